#!/usr/bin/env bash
# Builds the imagewatch container image with docker (when its engine answers) or buildah.
#   scripts/build-image.sh [TAG]          TAG defaults to imagewatch:<package version>
# Environment: IMAGEWATCH_BUILDER=docker|buildah to choose; BUILDAH_ISOLATION (default chroot) for buildah.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(node -p 'require("./package.json").version')
tag=${1:-imagewatch:${version}}

builder=${IMAGEWATCH_BUILDER:-}
if [ -z "$builder" ]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    builder=docker
  elif command -v buildah >/dev/null 2>&1; then
    builder=buildah
  else
    echo "build-image: neither a running docker engine nor buildah found" >&2
    exit 1
  fi
fi

case "$builder" in
  docker)
    docker build --tag "$tag" .
    docker image ls "$tag"
    ;;
  buildah)
    # --format docker keeps HEALTHCHECK (the OCI image format has no such field).
    buildah bud --format docker --isolation "${BUILDAH_ISOLATION:-chroot}" --layers --tag "$tag" .
    buildah images "$tag"
    ;;
  *)
    echo "build-image: unknown builder $builder (docker or buildah)" >&2
    exit 2
    ;;
esac
echo "built $tag with $builder"

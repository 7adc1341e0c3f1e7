#!/usr/bin/env bash
# Build the offline install kit for an edge box, on a connected machine of the same
# architecture and Python minor version as the box (or name the box's platform, below).
#
#   deploy/edge/build_wheelhouse.sh [OUT]            # default OUT: dist/sowcast-edge-<version>
#   deploy/edge/build_wheelhouse.sh --sowcast-only   # only the sowcast wheel: a small update kit
#
# OUT gets: wheelhouse/ (the sowcast wheel and every wheel of sowcast[edge], pinned by
# constraints.txt; never torch), constraints.txt, install_offline.sh, systemd/ units,
# README.md, locations.example.csv, and SHA256SUMS over all of them.
# Copy OUT to the box (USB stick) and run its install_offline.sh there as root.
#
# Environment: PYTHON (default python3); EDGE_PLATFORM + EDGE_PYTHON (e.g.
# manylinux2014_aarch64 and 3.11) to fetch binary wheels for another platform with
# pip download instead of building here; PIP_WHEEL_ARGS: extra pip arguments (e.g.
# --no-build-isolation on a machine whose pip cannot reach an index for setuptools).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-python3}
ONLY_SOWCAST=0
OUT=""
for arg in "$@"; do
    case "$arg" in
        --sowcast-only) ONLY_SOWCAST=1 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        -*) echo "build_wheelhouse: unknown option $arg" >&2; exit 2 ;;
        *) OUT=$arg ;;
    esac
done
VERSION=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$REPO/pyproject.toml" | head -n 1)
OUT=${OUT:-$REPO/dist/sowcast-edge-$VERSION}
if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT" 2>/dev/null)" ]; then
    echo "build_wheelhouse: $OUT exists and is not empty; remove it or name another folder" >&2
    exit 2
fi
mkdir -p "$OUT/wheelhouse" "$OUT/systemd"
read -r -a EXTRA <<< "${PIP_WHEEL_ARGS:-}"
PIP=("$PYTHON" -m pip --disable-pip-version-check)

# 1. the sowcast wheel itself, built from a clean copy of the sources (the checkout is left as it is)
SRC=$(mktemp -d)
trap 'rm -rf "$SRC"' EXIT
tar -C "$REPO" --exclude=__pycache__ --exclude='*.egg-info' -cf - pyproject.toml README.md src | tar -C "$SRC" -xf -
"${PIP[@]}" wheel --no-deps -q -w "$OUT/wheelhouse" "${EXTRA[@]}" "$SRC"
WHEEL=$(ls "$OUT"/wheelhouse/sowcast-*.whl)

# 2. every dependency of sowcast[edge], as wheels, at the tested versions
if [ "$ONLY_SOWCAST" = 0 ]; then
    if [ -n "${EDGE_PLATFORM:-}" ]; then
        "${PIP[@]}" download -q -d "$OUT/wheelhouse" -c "$REPO/constraints.txt" --only-binary=:all: \
            --platform "$EDGE_PLATFORM" --python-version "${EDGE_PYTHON:?set EDGE_PYTHON, e.g. 3.11}" \
            "${EXTRA[@]}" "$WHEEL[edge]"
    else
        "${PIP[@]}" wheel -q -w "$OUT/wheelhouse" -c "$REPO/constraints.txt" "${EXTRA[@]}" "$WHEEL[edge]"
    fi
    if ls "$OUT"/wheelhouse | grep -qi '^torch-'; then
        echo "build_wheelhouse: torch got into the wheelhouse; the edge extra must not pull it in" >&2
        exit 1
    fi
fi

# 3. the installer, units and guide
cp "$REPO/constraints.txt" "$OUT/"
cp "$REPO/deploy/edge/install_offline.sh" "$REPO/deploy/edge/README.md" "$OUT/"
cp "$REPO/data/locations/west_africa_demo.csv" "$OUT/locations.example.csv"
cp "$REPO"/deploy/systemd/*.service "$REPO"/deploy/systemd/*.timer "$OUT/systemd/"
chmod +x "$OUT/install_offline.sh"

# 4. checksums of everything, checked by install_offline.sh before it installs anything
(cd "$OUT" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum > SHA256SUMS)
echo "edge kit in $OUT: $(ls "$OUT/wheelhouse" | wc -l) wheels, $(du -sh "$OUT" | cut -f1)"

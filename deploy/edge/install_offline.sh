#!/usr/bin/env bash
# Install or update sowcast on an edge box without network, from the kit that
# deploy/edge/build_wheelhouse.sh made. Run as root from the kit's folder:
#
#   sudo ./install_offline.sh                 # verify, install/update, start the service and timer
#   ./install_offline.sh --check-only         # only verify the kit against SHA256SUMS
#   sudo ./install_offline.sh --no-systemd    # install, but leave the units alone (containers)
#
# Steps: (1) every file of the kit matches SHA256SUMS and nothing unlisted lies in
# wheelhouse/; (2) the system user `sowcast` and the folders; (3) a venv in
# $SOWCAST_PREFIX/venv with `pip install --no-index --find-links wheelhouse sowcast[edge]`;
# (4) the site config in /etc/sowcast (created once, never overwritten); (5) the systemd
# units, enabled and (re)started. Running it again with a newer kit updates in place.
#
# Environment: SOWCAST_PREFIX (/opt/sowcast), SOWCAST_DATA (/var/lib/sowcast),
# SOWCAST_ETC (/etc/sowcast), PYTHON (python3, >= 3.11 with the venv module).
set -euo pipefail

KIT=$(cd "$(dirname "$0")" && pwd)
PREFIX=${SOWCAST_PREFIX:-/opt/sowcast}
DATA=${SOWCAST_DATA:-/var/lib/sowcast}
ETC=${SOWCAST_ETC:-/etc/sowcast}
PYTHON=${PYTHON:-python3}
UNITS=/etc/systemd/system
CHECK_ONLY=0
SYSTEMD=1
for arg in "$@"; do
    case "$arg" in
        --check-only) CHECK_ONLY=1 ;;
        --no-systemd) SYSTEMD=0 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "install_offline: unknown option $arg" >&2; exit 2 ;;
    esac
done

die() { echo "install_offline: $*" >&2; exit 1; }
say() { echo "install_offline: $*"; }

# 1. the kit is complete and unchanged --------------------------------------------------
[ -f "$KIT/SHA256SUMS" ] || die "no SHA256SUMS in $KIT: is this the kit from build_wheelhouse.sh?"
if ! (cd "$KIT" && sha256sum --check --strict --quiet SHA256SUMS); then
    die "the kit in $KIT does not match its SHA256SUMS (damaged or altered copy): copy it again"
fi
unlisted=$(cd "$KIT" && find wheelhouse -type f -printf '%p\n' | LC_ALL=C sort \
           | comm -23 - <(awk '{print $2}' SHA256SUMS | sed 's#^\*##' | LC_ALL=C sort))
[ -z "$unlisted" ] || die "files in the wheelhouse that SHA256SUMS does not list: $unlisted"
ls "$KIT"/wheelhouse/sowcast-*.whl > /dev/null 2>&1 || die "no sowcast wheel in $KIT/wheelhouse"
say "kit verified: $(grep -c . "$KIT/SHA256SUMS") files match SHA256SUMS"
[ "$CHECK_ONLY" = 1 ] && exit 0

[ "$(id -u)" = 0 ] || die "run as root (sudo $0): it creates a user, folders and systemd units"
"$PYTHON" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' \
    || die "$PYTHON is missing, older than 3.11, or lacks the venv module (Debian: apt install python3-venv)"

# 2. user and folders ---------------------------------------------------------------------
if ! id sowcast > /dev/null 2>&1; then
    useradd --system --home-dir "$DATA" --no-create-home --shell /usr/sbin/nologin \
            --comment "sowcast forecast service" sowcast
    say "created the system user sowcast"
fi
install -d -m 0755 "$PREFIX" "$ETC" "$ETC/conf" "$ETC/conf/site"
install -d -o sowcast -g sowcast -m 0750 "$DATA" "$DATA/inbox" "$DATA/.cache"

# 3. the venv, from the wheelhouse only ---------------------------------------------------
if systemctl is-active --quiet sowcast-serve.service 2> /dev/null; then
    say "stopping sowcast-serve for the update (a running job resumes after the restart)"
    systemctl stop sowcast-serve.service
fi
[ -x "$PREFIX/venv/bin/python" ] || "$PYTHON" -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/python" -m pip install --disable-pip-version-check --no-index --find-links "$KIT/wheelhouse" \
    -c "$KIT/constraints.txt" --upgrade --quiet "sowcast[edge]"
"$PREFIX/venv/bin/python" - << 'PY' || die "the installed sowcast does not import cleanly (see above)"
import importlib.util, sys
import sowcast, sowcast.forecast.engine, onnxruntime  # noqa: F401
sys.exit("torch is installed in the edge venv; it must not be" if importlib.util.find_spec("torch") else 0)
PY
cp "$KIT/README.md" "$PREFIX/README.md"
say "installed sowcast $("$PREFIX/venv/bin/python" -c 'import sowcast; print(sowcast.__version__)') in $PREFIX/venv"

# 4. site config, created once: the operator edits these, updates keep them ---------------
if [ ! -f "$ETC/conf/site/agency.yaml" ]; then
    cat > "$ETC/conf/site/agency.yaml" << YAML
# @package _global_
# This agency's settings, over the shipped defaults: any key that 'sowcast serve --cfg'
# shows may be set here. Kept across updates. After an edit: systemctl restart sowcast-serve
serve:
  root: $DATA            # journal.sqlite, runs/, published/, latest
  host: 127.0.0.1        # 0.0.0.0 opens the dashboard to the office network (token needed)
  port: 8470
  token: \${oc.env:SOWCAST_TOKEN,null}   # from $ETC/sowcast.env
  bundle: $DATA/bundle   # the model bundle folder (from 'sowcast export'), verified at start
  init: null             # a canonical store of analyses, updated by your data feed: the daily run's input
  inbox: $DATA/inbox     # or drop each new analysis (.nc file or .zarr folder) here: a run is queued
  observed: null         # observed rain so far this season (canonical store or station CSV)
  stations: null         # station coordinates when observed is a station CSV without lat/lon
  locations: $ETC/locations.csv   # name,lat,lon per line (or a GeoJSON of districts)
  languages: [en, fr]
  forecast:
    members: 16
    threads: 2           # CPU cores the model may use: the power budget
  overrides:             # the chain steps read this file too (the two overrides below)
    forecast: ["hydra.searchpath=[file://$ETC/conf]", "+site=agency"]
    products: ["hydra.searchpath=[file://$ETC/conf]", "+site=agency"]
    bulletin: ["hydra.searchpath=[file://$ETC/conf]", "+site=agency"]
forecast:
  spinning: false        # idle threads sleep instead of spinning: saves power
products:
  rules: sivakumar1988   # agrhymet_sahel, anacim, picsa, or the path of your own rules YAML
bulletin:
  agency:
    name: National Meteorological Agency
    signature: NMA       # ends each SMS; keep it short
  scorecard: null        # null: the bundle's own held-out scorecard, where it has one (verify.bundle);
                         # else the 'sowcast verify' folder of held-out years that came with the bundle.
                         # Without either, the bulletin says the skill was never assessed
YAML
    say "wrote $ETC/conf/site/agency.yaml: edit it for this agency"
fi
if [ ! -f "$ETC/sowcast.env" ]; then
    token=$("$PREFIX/venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(24))')
    cat > "$ETC/sowcast.env" << ENV
# Environment of the sowcast units (systemd EnvironmentFile syntax).
# The API token: the dashboard asks for it once per browser tab; empty = no token.
SOWCAST_TOKEN=$token
SOWCAST_URL=http://127.0.0.1:8470
ENV
    chown root:sowcast "$ETC/sowcast.env"
    chmod 0640 "$ETC/sowcast.env"
    say "wrote $ETC/sowcast.env with a new API token"
fi
if [ ! -f "$ETC/locations.csv" ]; then
    install -m 0644 "$KIT/locations.example.csv" "$ETC/locations.csv"
    say "wrote $ETC/locations.csv (the demo towns): replace it with this agency's locations"
fi

# 5. systemd units -----------------------------------------------------------------------
if [ "$SYSTEMD" = 1 ]; then
    install -m 0644 "$KIT"/systemd/*.service "$KIT"/systemd/*.timer "$UNITS/"
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        systemctl enable --quiet sowcast-serve.service sowcast-forecast.timer
        systemctl restart sowcast-serve.service
        systemctl start sowcast-forecast.timer
        say "started sowcast-serve (dashboard: http://127.0.0.1:8470/) and the daily timer"
    else
        say "systemd is not running here: units copied to $UNITS, start them on the box"
    fi
fi
say "done"

# shellcheck shell=bash disable=SC2034  # sourced: its variables are the callers'
# Sourced by deploy/check-image and deploy/check-compose: podman from Debian, set up to run on
# the machine it finds itself on, or the caller's check skipped (exit 0) with the reason if
# podman cannot run containers here at all. It sets CHECK_DIR, a scratch directory, and an
# EXIT trap that runs the commands the caller appends to `cleanups` (newest first), then
# removes CHECK_DIR.
declare -F apt_install >/dev/null || apt_install() { return 1; }  # deploy/check exports it

CHECK_DIR=$(mktemp -d)
cleanups=()
run_cleanups() {
  local i
  for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do eval "${cleanups[i]}" >/dev/null 2>&1 || true; done
  rm -rf "$CHECK_DIR"
}
trap run_cleanups EXIT

# runc, not Debian's default crun: crun refuses a hybrid cgroup hierarchy (v1 controllers with
# one also on the v2 mount), which some CI virtual machines have; runc runs on every layout.
# CNI's dnsname plugin resolves compose service names (db) on the stack's network.
DNSNAME_PLUGIN=/usr/lib/cni/dnsname
missing=""
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
[ -x "$DNSNAME_PLUGIN" ] || missing="$missing $DNSNAME_PLUGIN"
if [ -n "$missing" ] && ! apt_install podman runc debootstrap debian-archive-keyring \
    golang-github-containernetworking-plugin-dnsname; then
  echo "deploy-check: SKIPPED the container checks: no$missing, and it does not install from Debian here"
  exit 0
fi

# The containers this check starts get the caller's own limits. podman's default (1,048,576
# open files) is a raise, which needs CAP_SYS_RESOURCE and fails on hosts that cap even root;
# and no process limit above the kernel's pid_max can be set where that is refused too.
podman_conf=$CHECK_DIR/containers.conf
nproc=$(ulimit -Hu)
pid_max=$(cat /proc/sys/kernel/pid_max)
if [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pid_max" ]; then nproc=$pid_max; fi
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=1048576
cat > "$podman_conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$podman_conf

if ! podman_info=$(podman info 2>&1 >/dev/null); then
  echo "deploy-check: SKIPPED the container checks: podman cannot run here: $(echo "$podman_info" | head -1)"
  exit 0
fi

# What deploy/Containerfile builds on: by default deploy/debian-base's image from Debian's
# archive (built once, then reused), since CI reaches no container registry; set
# ALPRFED_IMAGE_BASE=docker.io/library/python:3.11-slim-bookworm where one is reachable.
LOCAL_BASE=localhost/alprfed-base:bookworm
IMAGE_BASE=${ALPRFED_IMAGE_BASE:-$LOCAL_BASE}
IMAGE=localhost/alprfed:ci

# The machine's own trust store, handed to pip in the image build (a build secret, in no layer):
# where TLS to PyPI is intercepted, as on CI's network, pip then trusts what the host trusts.
HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
pip_cert_secret=()
[ -s "$HOST_CA_BUNDLE" ] && pip_cert_secret=(--secret "id=pip-cert,src=$HOST_CA_BUNDLE")

# Unique names for what a check run creates, so two runs on one machine do not collide.
RUN_ID=alprfed-ci-$$

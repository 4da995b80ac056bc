#!/usr/bin/env bash
# Prove the node writer's cgroup v2 io.max code on a real kernel: boot Debian's stock kernel in
# qemu (software emulation), share this machine's root read-only over 9p, chroot into it and run
# sandbox.iomax_vm_driver, which drives the writer's own reconciler against a real cgroup2 mount
# with the io controller and measures dd direct IO on a virtio disk. Prints the driver's RESULT
# lines on stdout; exit 0 when the driver finished, 1 when the VM run failed, 3 when qemu or
# busybox is missing.
#
# Usage: scripts/vm-cgroup-v2.sh [--fetch]   (--fetch: only cache the kernel, then exit)
# Env: IOPS_LIMITER_VM_CACHE (kernel cache; default $XDG_CACHE_HOME, /var/cache as root, or
#      ~/.cache, + /iops-limiter-vm), IOPS_LIMITER_VM_LOG (keep the console log there),
#      PYTHON (interpreter run inside the VM; default python3 on PATH), ACCEL (tcg or kvm),
#      QEMU (default qemu-system-x86_64),
#      VM_TIMEOUT (seconds, default 240).
set -euo pipefail
cd "$(dirname "$0")/.."
worktree=$PWD
python=${PYTHON:-$(command -v python3)}
# Absolute but with symlinks kept: a virtualenv's python finds its packages from its own path.
python=$(realpath -s "$(command -v "$python")")
if [[ -n ${IOPS_LIMITER_VM_CACHE:-} ]]; then cache=$IOPS_LIMITER_VM_CACHE
elif [[ -n ${XDG_CACHE_HOME:-} ]]; then cache=$XDG_CACHE_HOME/iops-limiter-vm
elif [[ $(id -u) -eq 0 ]]; then cache=/var/cache/iops-limiter-vm
else cache=$HOME/.cache/iops-limiter-vm; fi

# Loaded in this order inside the VM (each after the modules it depends on): the virtio PCI
# transport, the disk, and 9p for the shared root. Debian builds all of them as modules.
modules=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk
         netfs fscache 9pnet 9pnet_virtio 9p)

missing=()
qemu=${QEMU:-qemu-system-x86_64}
command -v "$qemu" >/dev/null || missing+=(qemu-system-x86)
# The static build only: the initramfs has no C library for a dynamically linked busybox.
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' ||
  missing+=(busybox-static)
if ((${#missing[@]})); then
  echo "vm-cgroup-v2: missing Debian packages: ${missing[*]} (scripts/setup.sh installs them)" >&2
  exit 3
fi

# The kernel comes from the package linux-image-amd64 points at, unpacked once per version.
fetch_kernel() {
  local package
  package=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
  [[ -n $package ]] || { echo "vm-cgroup-v2: apt knows no linux-image-amd64" >&2; return 1; }
  kernel_dir=$cache/$package
  [[ -f $kernel_dir/vmlinuz ]] && return 0
  local unpack
  unpack=$(mktemp -d "$cache/fetch.XXXXXX")
  (
    cd "$unpack"
    apt-get -q -o APT::Sandbox::User="$(id -un)" download "$package" >/dev/null
    local patterns=('./boot/vmlinuz-*') module
    for module in "${modules[@]}"; do patterns+=("*/$module.ko"); done
    dpkg-deb --fsys-tarfile "$package"_*.deb | tar -x --wildcards "${patterns[@]}"
    mkdir -p out/modules
    cp boot/vmlinuz-* out/vmlinuz
    for module in "${modules[@]}"; do
      find lib -name "$module.ko" -exec cp {} out/modules/ \;
      [[ -f out/modules/$module.ko ]] || { echo "vm-cgroup-v2: $package has no $module.ko" >&2; exit 1; }
    done
  ) || { rm -rf "$unpack"; return 1; }
  # A run that fetched the same kernel meanwhile wins: rename(2) does not replace a full folder.
  mv -T "$unpack/out" "$kernel_dir" 2>/dev/null || true
  rm -rf "$unpack"
}

mkdir -p "$cache"
fetch_kernel
[[ ${1:-} == --fetch ]] && { echo "vm-cgroup-v2: kernel cached in $kernel_dir"; exit 0; }

for path in "$worktree" "$python"; do
  [[ $path =~ ^[A-Za-z0-9/._-]+$ ]] || { echo "vm-cgroup-v2: unsupported path $path" >&2; exit 1; }
done
# Folders under /tmp that the guest must see through its own /tmp: the work tree, the Python.
tmp_kept=
for path in "$worktree" "$(dirname "$python")"; do
  if [[ $path == /tmp/* ]]; then tmp_kept+=" ${path#/tmp/}"; fi
done
run=$(mktemp -d "${TMPDIR:-/tmp}/iops-limiter-vm.XXXXXX")
trap 'rm -rf "$run"' EXIT
mkdir -p "$run"/initrd/{bin,dev,proc,sys,host,lib/modules}
cp /bin/busybox "$run/initrd/bin/"
cp "$kernel_dir"/modules/*.ko "$run/initrd/lib/modules/"
cat > "$run/initrd/init" <<EOF
#!/bin/busybox sh
# PID 1 in the VM. Every failure prints a RESULT FAIL line and powers off: the host reads those.
/bin/busybox --install -s /bin
export PATH=/bin
fail() { echo "RESULT FAIL \$*"; poweroff -f; }
mount -t proc proc /proc && mount -t sysfs sys /sys && mount -t devtmpfs dev /dev || fail mount
for module in ${modules[*]}; do insmod /lib/modules/\$module.ko || fail insmod \$module; done
i=0; while [ ! -b /dev/vda1 ] && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i + 1)); done
[ -b /dev/vda ] && [ -b /dev/vda1 ] || fail no virtio disk /dev/vda with partition vda1
# cache=loose: the share is read-only and nothing changes it during the run; Python imports fast.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 host /host \
  || fail 9p mount of the host root
# The guest needs a writable /tmp, but a work tree under the host's /tmp (a CI clone) must stay
# visible: keep the share's /tmp at /hosttmp and bind the work tree back over the tmpfs.
mkdir /hosttmp && mount --bind /host/tmp /hosttmp || fail bind of the host /tmp
mount -t proc proc /host/proc && mount -t sysfs sys /host/sys && mount -t devtmpfs dev /host/dev \
  && mount -t tmpfs tmp /host/tmp || fail mounts in the shared root
for kept in $tmp_kept; do
  mkdir -p /host/tmp/\$kept && mount --bind /hosttmp/\$kept /host/tmp/\$kept || fail bind of /tmp/\$kept
done
mount -t cgroup2 cgroup2 /host/sys/fs/cgroup || fail cgroup2 mount
echo +io > /host/sys/fs/cgroup/cgroup.subtree_control || fail +io at the cgroup2 root
echo "RESULT uptime_python_start \$(cut -d ' ' -f 1 /proc/uptime)"
chroot /host /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp PYTHONDONTWRITEBYTECODE=1 \
  PYTHONPATH=$worktree $python -m sandbox.iomax_vm_driver --cgroup-root /sys/fs/cgroup \
  --device /dev/vda --partition /dev/vda1 || echo "RESULT FAIL driver exited with \$?"
echo "RESULT uptime_python_end \$(cut -d ' ' -f 1 /proc/uptime)"
poweroff -f
EOF
chmod +x "$run/initrd/init"
(cd "$run/initrd" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$run/initrd.gz"
# The scratch disk the driver overwrites (it checks the serial number qemu gives it): 64 MiB
# with one partition from sector 2048 to the end (MBR entry type 0x83).
truncate -s 64M "$run/disk.img"
printf '\x00\x00\x02\x00\x83\xff\xff\xff\x00\x08\x00\x00\x00\xf8\x01\x00' |
  dd of="$run/disk.img" bs=1 seek=446 conv=notrunc status=none
printf '\x55\xaa' | dd of="$run/disk.img" bs=1 seek=510 conv=notrunc status=none

if [[ ${ACCEL:-tcg} == kvm ]]; then accel=(-accel kvm -cpu host); else accel=(-accel tcg -cpu max); fi
log=${IOPS_LIMITER_VM_LOG:-$run/console.log}
started=$(date +%s%N)
timeout "${VM_TIMEOUT:-240}" "$qemu" "${accel[@]}" -m 512 -smp 1 -nodefaults \
  -display none -serial stdio -monitor none -net none -no-reboot \
  -kernel "$kernel_dir/vmlinuz" -initrd "$run/initrd.gz" \
  -append "console=ttyS0 quiet panic=-1" \
  -drive "file=$run/disk.img,format=raw,if=none,id=scratch,cache=unsafe" \
  -device virtio-blk-pci,drive=scratch,serial=iops-limiter-vm-disk \
  -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
  < /dev/null | tr -d '\r' > "$log" || true
echo "RESULT vm_ms $(( ($(date +%s%N) - started) / 1000000 ))"
grep -a '^RESULT ' "$log" || true
if ! grep -aq '^RESULT end$' "$log" || grep -aq '^RESULT FAIL' "$log"; then
  echo "vm-cgroup-v2: the VM run failed; last console lines:" >&2
  tail -n 40 "$log" >&2
  exit 1
fi

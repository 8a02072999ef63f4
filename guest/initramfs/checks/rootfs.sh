# skiff.check=rootfs: the ext4 image from scripts/build-rootfs is on /dev/vda
# (or skiff.blkdev) and carries its marker file.
dev=/dev/vda
for w in $(cat /proc/cmdline); do
  case "$w" in skiff.blkdev=*) dev=${w#*=} ;; esac
done
mkdir -p /mnt/rootfs
if ! grep -q " /mnt/rootfs " /proc/mounts; then
  mount -t ext4 -o ro "$dev" /mnt/rootfs || exit 1
fi
cat /mnt/rootfs/etc/skiff-rootfs || exit 1
grep -q '^skiff-rootfs ' /mnt/rootfs/etc/skiff-rootfs

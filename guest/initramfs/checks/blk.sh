# skiff.check=blk: /dev/vda is readable; prints its size and the sha256 of its
# first skiff.blkmb MiB (default 16) so the host can compare with the image.
dev=/dev/vda mb=16
for w in $(cat /proc/cmdline); do
  case "$w" in skiff.blkdev=*) dev=${w#*=} ;; skiff.blkmb=*) mb=${w#*=} ;; esac
done
[ -b "$dev" ] || { echo "blk: no $dev"; exit 1; }
echo "blk: $dev $(cat /sys/class/block/${dev#/dev/}/size) sectors"
sum=$(dd if="$dev" bs=1M count="$mb" 2>/dev/null | sha256sum) || exit 1
echo "blk: sha256 of first $mb MiB ${sum%% *}"

# skiff.check=vsock: the virtio-vsock transport is present; prints the CID.
[ -e /dev/vsock ] || { echo "vsock: no /dev/vsock"; exit 1; }
for d in /sys/bus/virtio/devices/*; do
  [ "$(cat "$d/device")" = 0x0013 ] && echo "vsock: device $(basename "$d")" && exit 0
done
echo "vsock: no virtio device id 19"
exit 1

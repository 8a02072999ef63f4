; A minimal virtio driver: finds the virtio-blk device at 0xd0000000
; (virtio-mmio version 2, virtio 1.2 §4.2.3), negotiates VIRTIO_F_VERSION_1
; only, sets up an 8-entry split virtqueue (§2.7) and reads sector 0 by
; polling the used ring. Prints "blk sector0=" and the sector's first 8
; bytes as a little-endian hex qword, then resets. A failed step exits
; through debug-exit with its number.
%include "lib.inc"

%define MMIO 0xd0000000
%define REG_MAGIC 0x000
%define REG_VERSION 0x004
%define REG_DEVICE_ID 0x008
%define REG_DEVICE_FEATURES 0x010
%define REG_DEVICE_FEATURES_SEL 0x014
%define REG_DRIVER_FEATURES 0x020
%define REG_DRIVER_FEATURES_SEL 0x024
%define REG_QUEUE_SEL 0x030
%define REG_QUEUE_NUM_MAX 0x034
%define REG_QUEUE_NUM 0x038
%define REG_QUEUE_READY 0x044
%define REG_QUEUE_NOTIFY 0x050
%define REG_STATUS 0x070
%define REG_QUEUE_DESC 0x080
%define REG_QUEUE_DRIVER 0x090
%define REG_QUEUE_DEVICE 0x0a0
%define QSIZE 8
%define VIRTQ_DESC_F_NEXT 1
%define VIRTQ_DESC_F_WRITE 2

; Writes a 64-bit address to a Low/High register pair at RBX + %1.
%macro SET_ADDR 2
  lea rax, [rel %2]
  mov [rbx + %1], eax
  shr rax, 32
  mov [rbx + %1 + 4], eax
%endmacro

; Fills descriptor %1 with address label %2, length %3, flags %4, next %5.
%macro DESC 5
  lea rax, [rel %2]
  mov [rel desc + %1 * 16], rax
  mov dword [rel desc + %1 * 16 + 8], %3
  mov word [rel desc + %1 * 16 + 12], %4
  mov word [rel desc + %1 * 16 + 14], %5
%endmacro

global _start
_start:
  lea rsp, [rel stack_top]
  mov rbx, MMIO
  ; 1: a version-2 virtio-mmio block device.
  cmp dword [rbx + REG_MAGIC], 0x74726976
  jne fail1
  cmp dword [rbx + REG_VERSION], 2
  jne fail1
  cmp dword [rbx + REG_DEVICE_ID], 2
  jne fail1
  ; 2: reset, ACKNOWLEDGE | DRIVER, features: VERSION_1 (bit 32) only.
  mov dword [rbx + REG_STATUS], 0
  mov dword [rbx + REG_STATUS], 3
  mov dword [rbx + REG_DEVICE_FEATURES_SEL], 1
  test dword [rbx + REG_DEVICE_FEATURES], 1
  jz fail2
  mov dword [rbx + REG_DRIVER_FEATURES_SEL], 0
  mov dword [rbx + REG_DRIVER_FEATURES], 0
  mov dword [rbx + REG_DRIVER_FEATURES_SEL], 1
  mov dword [rbx + REG_DRIVER_FEATURES], 1
  mov dword [rbx + REG_STATUS], 11        ; | FEATURES_OK
  test dword [rbx + REG_STATUS], 8
  jz fail2
  ; 3: queue 0 with QSIZE entries.
  mov dword [rbx + REG_QUEUE_SEL], 0
  cmp dword [rbx + REG_QUEUE_NUM_MAX], QSIZE
  jb fail3
  mov dword [rbx + REG_QUEUE_NUM], QSIZE
  SET_ADDR REG_QUEUE_DESC, desc
  SET_ADDR REG_QUEUE_DRIVER, avail
  SET_ADDR REG_QUEUE_DEVICE, used
  mov dword [rbx + REG_QUEUE_READY], 1
  mov dword [rbx + REG_STATUS], 15        ; | DRIVER_OK
  test dword [rbx + REG_STATUS], 0x40     ; DEVICE_NEEDS_RESET
  jnz fail3
  ; 4: VIRTIO_BLK_T_IN of sector 0: header, data (writable), status.
  DESC 0, req_header, 16, VIRTQ_DESC_F_NEXT, 1
  DESC 1, sector, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2
  DESC 2, req_status, 1, VIRTQ_DESC_F_WRITE, 0
  mov word [rel avail + 4], 0             ; ring[0] = head descriptor 0
  mfence
  mov word [rel avail + 2], 1             ; idx = 1
  mfence
  mov dword [rbx + REG_QUEUE_NOTIFY], 0
  ; 5: poll the used ring (no interrupts) for a bounded time.
  mov ecx, 100000000
.poll:
  cmp word [rel used + 2], 1
  je .done
  pause
  dec ecx
  jnz .poll
  DEBUG_EXIT_WITH 5
.done:
  ; 6: the request succeeded and the used entry names descriptor 0.
  cmp byte [rel req_status], 0
  jne fail6
  cmp dword [rel used + 4], 0
  jne fail6
  lea rsi, [rel s_sector0]
  call puts
  mov rax, [rel sector]
  call puthex
  lea rsi, [rel s_newline]
  call puts
  RESET
fail1:
  DEBUG_EXIT_WITH 1
fail2:
  DEBUG_EXIT_WITH 2
fail3:
  DEBUG_EXIT_WITH 3
fail6:
  DEBUG_EXIT_WITH 6

section .data
s_sector0: db "blk sector0=", 0
s_newline: db 13, 10, 0
align 16
req_header: dd 0, 0                       ; type IN, ioprio
            dq 0                          ; sector
req_status: db 0xff

section .bss
alignb 4096
desc: resb 16 * QSIZE
alignb 2
avail: resb 6 + 2 * QSIZE
alignb 4
used: resb 6 + 8 * QSIZE
alignb 512
sector: resb 512
alignb 16
  resb 4096
stack_top:

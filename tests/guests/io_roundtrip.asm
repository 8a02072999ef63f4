; Port and MMIO round trips: the UART scratch register must read back what
; was written, the CMOS must answer, an unclaimed MMIO read must see
; all-ones, and a write of 123 to the boot-timer device must not stop the
; guest. Prints "io ok" and resets, or exits through debug-exit with the
; number of the failed check.
%include "lib.inc"
global _start
_start:
  lea rsp, [rel stack_top]
  ; 1: serial scratch register (offset 7) keeps a byte.
  mov dx, COM1 + 7
  mov al, 0x5a
  out dx, al
  xor eax, eax
  in al, dx
  cmp al, 0x5a
  jne fail1
  ; 2: CMOS register D reports valid RAM and time (VRT, bit 7).
  mov al, 0x0d
  out 0x70, al
  in al, 0x71
  test al, 0x80
  jz fail2
  ; 3: a 4-byte MMIO read where no device lives reads all-ones. (The
  ; addresses go through a register: as a 32-bit displacement they would be
  ; sign-extended to 0xffffffff_d0000000.)
  mov rbx, 0xd0000000
  mov eax, [rbx]
  cmp eax, 0xffffffff
  jne fail3
  ; 4: the boot timer takes a byte write of 123.
  mov rbx, 0xc0000000
  mov byte [rbx], 123
  lea rsi, [rel s_ok]
  call puts
  RESET
fail1:
  DEBUG_EXIT_WITH 1
fail2:
  DEBUG_EXIT_WITH 2
fail3:
  DEBUG_EXIT_WITH 3

section .data
s_ok: db "io ok", 13, 10, 0
section .bss
  resb 4096
stack_top:

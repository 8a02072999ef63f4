; Installs a #BP handler and executes INT3 at CPL0; the handler prints
; "breakpoint ok" and resets. This is what every Linux kernel does early
; (the alternatives self-test), and what a shadow-paging KVM cannot
; emulate (HOST-KVM.md): there skiff must report an internal error with the
; instruction bytes.
%include "lib.inc"
global _start
_start:
  lea rsp, [rel stack_top]
  ; 64-bit interrupt gate for vector 3 (Intel SDM vol. 3, 6.14.1).
  lea rax, [rel bp_handler]
  lea rdi, [rel idt + 3 * 16]
  mov [rdi], ax                 ; offset 15:0
  mov word [rdi + 2], cs        ; selector
  mov word [rdi + 4], 0x8e00    ; present, DPL 0, type 0xe
  shr rax, 16
  mov [rdi + 6], ax             ; offset 31:16
  shr rax, 16
  mov [rdi + 8], eax            ; offset 63:32
  lidt [rel idt_desc]
  int3
  DEBUG_EXIT_WITH 9             ; returned without running the handler

bp_handler:
  lea rsi, [rel s_ok]
  call puts
  RESET

section .data
align 16
idt: times 32 dq 0, 0
idt_desc:
  dw 32 * 16 - 1
  dq idt
s_ok: db "breakpoint ok", 13, 10, 0
section .bss
  resb 4096
stack_top:

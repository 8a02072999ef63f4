; The local APIC timer: programs it periodic at 1 ms (1 GHz bus, divide by
; 1, initial count 1,000,000; Intel SDM vol. 3, 11.5.4), halts with
; interrupts on until 10 ticks arrived, then prints "timer ok tsc=" and the
; TSC, and resets. Under --icount the TSC printed is the same every run and
; the halts cost no instructions: the clock jumps to each tick.
%include "lib.inc"
%define APIC 0xfee00000
%define TICKS 10
global _start
_start:
  lea rsp, [rel stack_top]
  lea rax, [rel timer_handler]
  lea rdi, [rel idt + 0x40 * 16]
  mov [rdi], ax
  mov word [rdi + 2], cs
  mov word [rdi + 4], 0x8e00
  shr rax, 16
  mov [rdi + 6], ax
  shr rax, 16
  mov [rdi + 8], eax
  lidt [rel idt_desc]

  mov rbx, APIC
  mov dword [rbx + 0xf0], 0x1ff          ; SVR: enabled, spurious 0xff
  mov dword [rbx + 0x3e0], 0xb           ; divide by 1
  mov dword [rbx + 0x320], 0x40 | (1 << 17)  ; LVT timer: periodic, 0x40
  mov dword [rbx + 0x380], 1000000       ; initial count: 1 ms
  sti
.wait:
  hlt
  cmp dword [rel ticks], TICKS
  jb .wait
  cli
  mov dword [rbx + 0x320], 1 << 16       ; masked
  rdtsc
  shl rdx, 32
  or rax, rdx
  mov rbp, rax
  lea rsi, [rel s_ok]
  call puts
  mov rax, rbp
  call puthex
  lea rsi, [rel s_nl]
  call puts
  RESET

timer_handler:
  add dword [rel ticks], 1
  push rbx
  mov rbx, APIC
  mov dword [rbx + 0xb0], 0              ; EOI
  pop rbx
  iretq

section .data
align 16
idt: times 0x41 dq 0, 0
idt_desc:
  dw 0x41 * 16 - 1
  dq idt
ticks: dd 0
s_ok: db "timer ok tsc=", 0
s_nl: db 13, 10, 0
section .bss
  resb 4096
stack_top:

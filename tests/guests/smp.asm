; Brings up vCPU 1 with INIT and two start-up IPIs through the local APIC
; (Intel MP spec B.4). The application processor starts in real mode at
; 0x10000, writes 0x55 at 0x10800 and halts; vCPU 0 waits for that byte,
; prints "ap up" and resets, or, after the CMOS clock's seconds changed
; three times (2 to 3 seconds, whatever the backend's speed), exits through
; debug-exit with code 5.
%include "lib.inc"
%define APIC 0xfee00000
%define TRAMPOLINE 0x10000
%define AP_FLAG 0x10800
global _start
_start:
  lea rsp, [rel stack_top]
  lea rsi, [rel trampoline]
  mov edi, TRAMPOLINE
  mov ecx, trampoline_end - trampoline
  rep movsb
  mov byte [AP_FLAG], 0

  mov rdx, APIC
  mov dword [rdx + 0xf0], 0x1ff           ; SVR: software enable
  mov dword [rdx + 0x310], 1 << 24         ; ICR high: APIC ID 1
  mov dword [rdx + 0x300], 0x4500          ; INIT, level assert
  mov ecx, 2
.sipi:
  mov dword [rdx + 0x310], 1 << 24
  mov dword [rdx + 0x300], 0x4600 | (TRAMPOLINE >> 12)  ; start-up
  dec ecx
  jnz .sipi

  xor ecx, ecx          ; seconds ticks seen
  mov al, 0
  out 0x70, al
  in al, 0x71
  mov bl, al            ; last seconds value
.poll:
  cmp byte [AP_FLAG], 0x55
  je .up
  pause
  mov al, 0
  out 0x70, al
  in al, 0x71
  cmp al, bl
  je .poll
  mov bl, al
  inc ecx
  cmp ecx, 3
  jb .poll
  DEBUG_EXIT_WITH 5
.up:
  lea rsi, [rel s_up]
  call puts
  RESET

section .data
s_up: db "ap up", 13, 10, 0

; 16-bit code run by the AP at CS = 0x1000, IP = 0.
bits 16
trampoline:
  mov ax, cs
  mov ds, ax
  mov byte [AP_FLAG - TRAMPOLINE], 0x55
  cli
.halt:
  hlt
  jmp .halt
trampoline_end:
bits 64

section .bss
  resb 4096
stack_top:

/* cc_alloc, cc_free and cc_free_unsized for x86-64 ELF, in assembly: why in entry_internal.h;
 * alloc.c holds the same entry points in C (the portable build, and the definition of what each
 * one does).
 *
 * Layout of each entry: the code up to and including the conditional tail call into mimalloc
 * (taken while statistics are off) fills the end of one 64-byte line exactly; the fall-through
 * (statistics on) starts the next line and jumps to the slow path with the original arguments.
 * The bytes before the entry point pad the line and are never executed. No stack frame, only
 * argument and scratch registers (System V AMD64 ABI); errno on failure is set by the mimalloc
 * error handler alloc.c registers, as on the C path. GNU as checks each layout while assembling
 * (an instruction of another length stops the build); tests/glue/test_entry_layout.py checks the
 * built library, whichever assembler made it. */
#include "entry_internal.h"

#if CC_ASM_ENTRIES

#include <stdint.h>

_Static_assert(_Alignof(max_align_t) == 16, "cc_alloc's minimum block below is 16 bytes");
_Static_assert(sizeof(size_t) == 8, "x86-64: size_t is 64 bits");

/* Indirect-branch tracking (CET): every entry is reached by indirect calls (PLT, cffi). */
#if defined(__CET__) && (__CET__ & 1)
#  define CC_LANDING "  endbr64\n"
#  define CC_LANDING_BYTES "4"
#else
#  define CC_LANDING ""
#  define CC_LANDING_BYTES "0"
#endif

/* Entry `name` whose hot part (landing pad included) is `hot` bytes long: pad the line so that it
 * ends exactly where the hot part does. */
#define CC_ENTRY_BEGIN(name, hot)                                \
    ".p2align 6\n"                                               \
    ".L" #name "_line:\n"                                        \
    ".skip 64 - " hot " - " CC_LANDING_BYTES ", 0xcc\n"          \
    ".globl " #name "\n"                                         \
    ".type " #name ", @function\n"                               \
    #name ":\n"                                                  \
    ".cfi_startproc\n"                                           \
    CC_LANDING
/* A conditional tail call `jcc rel32` to `target`, spelled out: the assembler would keep a
 * mnemonic jump's length open until the end (relaxation), and the line check below needs it now.
 * Opcodes: 0f 82 = jb, 0f 85 = jne. A PC-relative reference, not through the PLT: mimalloc is
 * linked into this library and its functions are hidden (declared so below), as a C call to
 * them from alloc.c is direct too. */
#define CC_JCC_TAIL(opcode, target)          \
    "  .byte 0x0f, " opcode "\n"             \
    "  .long " target " - . - 4\n"

/* Right after the conditional tail call: it must have ended the line. GNU as checks it here;
 * Clang's integrated assembler cannot evaluate the difference at this point (the padding is a
 * fragment of its own), so tests/glue/test_entry_layout.py checks the built library as well. */
#if defined(__clang__)
#  define CC_ENTRY_LINE_END(name) ""
#else
#  define CC_ENTRY_LINE_END(name)                                \
    ".L" #name "_hot_end:\n"                                     \
    ".if .L" #name "_hot_end - .L" #name "_line - 64\n"          \
    ".error \"" #name ": the conditional tail call must end its 64-byte line\"\n" \
    ".endif\n"
#endif
#define CC_ENTRY_END(name) \
    ".cfi_endproc\n"       \
    ".size " #name ", .-" #name "\n"

/* cc_stats_gate (stats_internal.h) is SIZE_MAX while statistics are off and 0 while on. */
__asm__(
    ".text\n"
    ".hidden mi_malloc\n"
    ".hidden mi_free\n"

    /* void *cc_alloc(size_t size): rdi = max(size, 16); mimalloc when size - 1 < gate (size is
     * not 0 and statistics are off), else cc_alloc_slow(size). 29 bytes up to the tail call. */
    CC_ENTRY_BEGIN(cc_alloc, "29")
    "  lea -1(%rdi), %rdx\n"             /* 4 */
    "  mov $16, %eax\n"                  /* 5 */
    "  cmp %rax, %rdi\n"                 /* 3 */
    "  cmovb %rax, %rdi\n"               /* 4 */
    "  cmp cc_stats_gate(%rip), %rdx\n"  /* 7 */
    CC_JCC_TAIL("0x82", "mi_malloc")   /* 6: jb mi_malloc */
    CC_ENTRY_LINE_END(cc_alloc)
    "  lea 1(%rdx), %rdi\n"
    "  jmp cc_alloc_slow@PLT\n"
    CC_ENTRY_END(cc_alloc)

    /* void cc_free(void *ptr, size_t size): mi_free (which takes NULL) while statistics are off,
     * else cc_free_slow(ptr, size). 14 bytes. */
    CC_ENTRY_BEGIN(cc_free, "14")
    "  cmpq $0, cc_stats_gate(%rip)\n"   /* 8 */
    CC_JCC_TAIL("0x85", "mi_free")     /* 6: jne mi_free */
    CC_ENTRY_LINE_END(cc_free)
    "  jmp cc_free_slow@PLT\n"
    CC_ENTRY_END(cc_free)

    /* void cc_free_unsized(void *ptr): as cc_free, with size 0 for the slow path. */
    CC_ENTRY_BEGIN(cc_free_unsized, "14")
    "  cmpq $0, cc_stats_gate(%rip)\n"
    CC_JCC_TAIL("0x85", "mi_free")
    CC_ENTRY_LINE_END(cc_free_unsized)
    "  xor %esi, %esi\n"
    "  jmp cc_free_slow@PLT\n"
    CC_ENTRY_END(cc_free_unsized)
);

#else
/* ISO C forbids an empty translation unit. */
typedef int cc_entry_x86_64_unused;
#endif

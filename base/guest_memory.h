// GuestMemory owns the guest's RAM: one or more anonymous (or memfd /
// hugetlbfs backed) mappings, each at a guest-physical address. Every access
// is bounds- and overflow-checked; no host pointer escapes except as a span
// whose length was checked against its region.
//
//   SKIFF_ASSIGN_OR_RETURN(auto mem, GuestMemory::Create(
//       GuestMemory::X86Layout(512 << 20), {}));
//   SKIFF_RETURN_IF_ERROR(mem->Write(GuestAddr(0x100000), kernel_bytes));
//   SKIFF_ASSIGN_OR_RETURN(uint32_t magic, mem->ReadObj<uint32_t>(addr));
//
// Thread-safety: the layout is constant after Create; the bytes themselves
// are shared with the guest and may change at any time, so callers copy what
// they validate (ReadObj) instead of validating in place.
//
// Writers other than the guest's own instructions report their writes
// (NoteWrite; Write and Fill do it themselves): the interpreter keeps decoded
// guest code and re-checks it against RAM only after the write epoch moved
// (tcg/block_cache.h). The interpreter marks the pages it decoded code from
// (MarkCodePage), so that a write known to touch none of them need not move
// the epoch (NoteWrite(addr, len)); a device that writes buffers it learnt
// of earlier compares code_marks() from before with after (virtqueue.h).
#ifndef SKIFF_BASE_GUEST_MEMORY_H_
#define SKIFF_BASE_GUEST_MEMORY_H_

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/guest_addr.h"

namespace skiff {

// Where the 32-bit MMIO hole starts on x86: RAM above this moves to 4 GiB.
inline constexpr uint64_t kX86MmioGapStart = 0xC000'0000;
inline constexpr uint64_t kX86MmioGapEnd = 0x1'0000'0000;

class GuestMemory {
 public:
  struct RegionSpec {
    GuestAddr start;
    uint64_t size = 0;
  };
  struct Options {
    // Back RAM with a memfd (shareable with other processes).
    bool memfd = false;
    // Back RAM with a file created in this hugetlbfs mount.
    std::string hugetlbfs_dir;
  };
  struct Region {
    GuestAddr start;
    uint64_t size = 0;
    uint8_t* host = nullptr;
    int fd = -1;  // -1 for anonymous memory
    GuestAddr end() const { return start + size; }
  };

  // Maps the regions. They must be page-aligned, non-empty and disjoint.
  static absl::StatusOr<std::unique_ptr<GuestMemory>> Create(
      std::vector<RegionSpec> regions, const Options& options);
  // RAM of `ram_size` bytes on x86: below the 32-bit MMIO gap, and the rest
  // from 4 GiB up.
  static std::vector<RegionSpec> X86Layout(uint64_t ram_size);

  ~GuestMemory();
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  absl::Span<const Region> regions() const { return regions_; }
  uint64_t total_size() const;
  // The highest guest-physical address of RAM plus one.
  GuestAddr end() const;

  // True when [addr, addr + len) lies entirely inside one region.
  bool Contains(GuestAddr addr, uint64_t len) const;

  // The host bytes backing [addr, addr + len), which must lie in one region.
  // A writer through the span reports its writes (NoteWrite).
  absl::StatusOr<absl::Span<uint8_t>> Slice(GuestAddr addr, uint64_t len) const;
  // As Slice, for hot paths: an empty span when out of range (len > 0).
  absl::Span<uint8_t> TrySlice(GuestAddr addr, uint64_t len) const;

  // Copies across region boundaries are refused: guest RAM regions are not
  // contiguous, so a buffer that straddles one is a guest bug.
  absl::Status Read(GuestAddr addr, absl::Span<uint8_t> out) const;
  absl::Status Write(GuestAddr addr, absl::Span<const uint8_t> data) const;
  absl::Status Fill(GuestAddr addr, uint8_t value, uint64_t len) const;

  // Counts reported writes. A device that wrote through a span calls
  // NoteWrite after its writes and before it makes them visible to the
  // guest (a used-ring index, an interrupt); a reader that saw that signal
  // and then loads the epoch sees the new value.
  uint64_t write_epoch() const {
    return write_epoch_.load(std::memory_order_relaxed);
  }
  void NoteWrite() const {
    write_epoch_.fetch_add(1, std::memory_order_seq_cst);
  }
  // The epoch itself, for code that polls it without a call (tcg/jit.h).
  const std::atomic<uint64_t>* write_epoch_word() const {
    return &write_epoch_;
  }
  // As NoteWrite, for writes known to lie in [addr, addr + len): the epoch
  // moves only when a page there holds decoded code.
  void NoteWrite(GuestAddr addr, uint64_t len) const {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (HoldsCode(addr, len)) NoteWrite();
  }

  // ---- Pages holding decoded code ------------------------------------------
  // Marked by the interpreter of a machine's sole vCPU (tcg/cpu.h
  // Cpu::MarkCodePage) before it trusts code decoded from the page; cleared
  // when its decoded code is all dropped. Other threads only read them.
  //
  // Ordering: MarkCodePage sets the bit, then bumps code_marks(), then
  // fences before the interpreter reads the page again; a writer fences
  // after its writes before it reads the marks (NoteWrite(addr, len)). So
  // either the writer sees the mark, or the interpreter sees the write.
  //
  // False when `phys` is outside RAM's span or the bitmap cannot be had.
  bool MarkCodePage(uint64_t phys) const;
  bool IsCodePage(uint64_t phys) const {
    const uint64_t pn = phys >> 12;
    return pn < code_page_count_ &&
           ((CodeWord(pn >> 6).load(std::memory_order_relaxed) >> (pn & 63)) &
            1);
  }
  // Whether a page of [addr, addr + len) is marked.
  bool HoldsCode(GuestAddr addr, uint64_t len) const;
  // Drops every mark; false when there was none.
  bool ForgetCodePages() const;
  // Bumped (release) by every new mark: a writer that loaded it (acquire)
  // before it checked its pages knows nothing was marked since when it is
  // unchanged.
  uint64_t code_marks() const {
    return code_marks_.load(std::memory_order_acquire);
  }

  template <typename T>
  absl::StatusOr<T> ReadObj(GuestAddr addr) const {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    absl::Status s = Read(
        addr, absl::MakeSpan(reinterpret_cast<uint8_t*>(&value), sizeof(T)));
    if (!s.ok()) return s;
    return value;
  }
  template <typename T>
  absl::Status WriteObj(GuestAddr addr, const T& value) const {
    static_assert(std::is_trivially_copyable_v<T>);
    return Write(addr,
                 absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(&value),
                                     sizeof(T)));
  }

 private:
  explicit GuestMemory(std::vector<Region> regions)
      : regions_(std::move(regions)) {}
  const Region* Find(GuestAddr addr, uint64_t len) const;

  std::atomic_ref<uint64_t> CodeWord(size_t k) const {
    return std::atomic_ref<uint64_t>(code_pages_[k]);
  }

  std::vector<Region> regions_;  // sorted by start; constant after Create
  // One bit per page below end(), allocated by Create (zero pages until a
  // mark writes them; nullptr if that failed); words [code_lo_word_,
  // code_hi_word_) may hold bits.
  struct FreeDeleter {
    void operator()(uint64_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint64_t[], FreeDeleter> code_pages_;
  uint64_t code_page_count_ = 0;
  mutable size_t code_lo_word_ = 0;
  mutable size_t code_hi_word_ = 0;
  mutable std::atomic<uint64_t> code_marks_{1};
  // Last and aligned, so alone on its cache line: vCPUs load it for every
  // block of guest code they enter, and a neighbour written by another
  // thread would turn those loads into misses.
  alignas(64) mutable std::atomic<uint64_t> write_epoch_{0};
};

}  // namespace skiff

#endif  // SKIFF_BASE_GUEST_MEMORY_H_

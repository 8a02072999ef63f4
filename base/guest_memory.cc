#include "base/guest_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_format.h"
#include "base/host_buffer.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

namespace skiff {
namespace {

constexpr uint64_t kPageSize = 4096;

absl::StatusOr<UniqueFd> CreateBackingFile(const GuestMemory::Options& options,
                                           uint64_t size) {
  UniqueFd fd;
  if (!options.hugetlbfs_dir.empty()) {
    std::string pattern = options.hugetlbfs_dir + "/skiff-XXXXXX";
    int raw = ::mkostemp(pattern.data(), O_CLOEXEC);
    if (raw < 0) {
      return ErrnoStatus(absl::StrFormat("create file in hugetlbfs dir %s",
                                         options.hugetlbfs_dir));
    }
    ::unlink(pattern.c_str());
    fd.Reset(raw);
  } else {
    int raw = ::memfd_create("skiff-guest-ram", MFD_CLOEXEC);
    if (raw < 0) return ErrnoStatus("memfd_create");
    fd.Reset(raw);
  }
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) < 0) {
    return ErrnoStatus(
        absl::StrFormat("ftruncate guest RAM to %u bytes", size));
  }
  return fd;
}

}  // namespace

std::vector<GuestMemory::RegionSpec> GuestMemory::X86Layout(uint64_t ram_size) {
  std::vector<RegionSpec> out;
  uint64_t low = std::min(ram_size, kX86MmioGapStart);
  out.push_back({GuestAddr(0), low});
  if (ram_size > low) {
    out.push_back({GuestAddr(kX86MmioGapEnd), ram_size - low});
  }
  return out;
}

absl::StatusOr<std::unique_ptr<GuestMemory>> GuestMemory::Create(
    std::vector<RegionSpec> specs, const Options& options) {
  if (specs.empty())
    return absl::InvalidArgumentError("guest memory: no regions");
  std::sort(specs.begin(), specs.end(),
            [](const RegionSpec& a, const RegionSpec& b) {
              return a.start < b.start;
            });
  for (size_t i = 0; i < specs.size(); ++i) {
    const RegionSpec& s = specs[i];
    if (s.size == 0 || s.size % kPageSize != 0 ||
        s.start.value() % kPageSize != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "guest memory: region at 0x%x size 0x%x is not page-aligned",
          s.start.value(), s.size));
    }
    if (s.start.value() + s.size < s.start.value()) {
      return absl::InvalidArgumentError("guest memory: region wraps around");
    }
    if (i > 0 &&
        specs[i - 1].start.value() + specs[i - 1].size > s.start.value()) {
      return absl::InvalidArgumentError("guest memory: regions overlap");
    }
  }

  std::vector<Region> regions;
  auto unmap_all = [&regions] {
    for (Region& r : regions) {
      ::munmap(r.host, r.size);
      if (r.fd >= 0) ::close(r.fd);
    }
  };
  const bool file_backed = options.memfd || !options.hugetlbfs_dir.empty();
  for (const RegionSpec& s : specs) {
    UniqueFd fd;
    int flags = MAP_SHARED;
    if (file_backed) {
      auto backing = CreateBackingFile(options, s.size);
      if (!backing.ok()) {
        unmap_all();
        return backing.status();
      }
      fd = std::move(*backing);
    } else {
      flags = MAP_PRIVATE | MAP_NORESERVE;
    }
    void* host = file_backed ? ::mmap(nullptr, s.size, PROT_READ | PROT_WRITE,
                                      flags, fd.get(), 0)
                             : MapAnonymousHugeAligned(s.size, flags);
    if (host == MAP_FAILED) {
      absl::Status st = ErrnoStatus(absl::StrFormat(
          "mmap %u bytes of guest RAM at 0x%x", s.size, s.start.value()));
      unmap_all();
      return st;
    }
    // Anonymous RAM is on transparent huge pages: one fault (and one TLB
    // entry) per 2 MiB the guest touches instead of 512.
    if (!file_backed) ::madvise(host, s.size, MADV_MERGEABLE);
    regions.push_back(
        Region{s.start, s.size, static_cast<uint8_t*>(host), fd.Release()});
  }
  auto mem = std::unique_ptr<GuestMemory>(new GuestMemory(std::move(regions)));
  const uint64_t pages = (mem->end().value() + 4095) >> 12;
  // calloc: a large bitmap comes as untouched zero pages.
  mem->code_pages_.reset(
      static_cast<uint64_t*>(std::calloc((pages + 63) / 64, sizeof(uint64_t))));
  if (mem->code_pages_ != nullptr) mem->code_page_count_ = pages;
  return mem;
}

GuestMemory::~GuestMemory() {
  for (Region& r : regions_) {
    ::munmap(r.host, r.size);
    if (r.fd >= 0) ::close(r.fd);
  }
}

uint64_t GuestMemory::total_size() const {
  uint64_t total = 0;
  for (const Region& r : regions_) total += r.size;
  return total;
}

GuestAddr GuestMemory::end() const { return regions_.back().end(); }

const GuestMemory::Region* GuestMemory::Find(GuestAddr addr,
                                             uint64_t len) const {
  for (const Region& r : regions_) {
    if (addr < r.start) return nullptr;
    uint64_t offset = addr - r.start;
    if (offset < r.size) {
      // offset < size, so size - offset cannot underflow.
      return len <= r.size - offset ? &r : nullptr;
    }
  }
  return nullptr;
}

bool GuestMemory::Contains(GuestAddr addr, uint64_t len) const {
  return Find(addr, len) != nullptr;
}

absl::Span<uint8_t> GuestMemory::TrySlice(GuestAddr addr, uint64_t len) const {
  const Region* r = Find(addr, len);
  if (r == nullptr) return {};
  return absl::MakeSpan(r->host + (addr - r->start), len);
}

absl::StatusOr<absl::Span<uint8_t>> GuestMemory::Slice(GuestAddr addr,
                                                       uint64_t len) const {
  const Region* r = Find(addr, len);
  if (r == nullptr) {
    return absl::OutOfRangeError(absl::StrFormat(
        "guest memory: [0x%x, +0x%x) is outside guest RAM", addr.value(), len));
  }
  return absl::MakeSpan(r->host + (addr - r->start), len);
}

absl::Status GuestMemory::Read(GuestAddr addr, absl::Span<uint8_t> out) const {
  SKIFF_ASSIGN_OR_RETURN(absl::Span<uint8_t> src, Slice(addr, out.size()));
  if (!out.empty()) std::memcpy(out.data(), src.data(), out.size());
  return absl::OkStatus();
}

absl::Status GuestMemory::Write(GuestAddr addr,
                                absl::Span<const uint8_t> data) const {
  SKIFF_ASSIGN_OR_RETURN(absl::Span<uint8_t> dst, Slice(addr, data.size()));
  if (!data.empty()) std::memcpy(dst.data(), data.data(), data.size());
  NoteWrite(addr, data.size());
  return absl::OkStatus();
}

absl::Status GuestMemory::Fill(GuestAddr addr, uint8_t value,
                               uint64_t len) const {
  SKIFF_ASSIGN_OR_RETURN(absl::Span<uint8_t> dst, Slice(addr, len));
  if (len > 0) std::memset(dst.data(), value, len);
  NoteWrite(addr, len);
  return absl::OkStatus();
}

bool GuestMemory::MarkCodePage(uint64_t phys) const {
  const uint64_t pn = phys >> 12;
  if (pn >= code_page_count_) return false;
  const size_t word = static_cast<size_t>(pn >> 6);
  const uint64_t bit = 1ull << (pn & 63);
  if (CodeWord(word).load(std::memory_order_relaxed) & bit) return true;
  if (code_lo_word_ == code_hi_word_) {
    code_lo_word_ = word;
    code_hi_word_ = word + 1;
  } else {
    code_lo_word_ = std::min(code_lo_word_, word);
    code_hi_word_ = std::max(code_hi_word_, word + 1);
  }
  CodeWord(word).fetch_or(bit, std::memory_order_relaxed);
  code_marks_.fetch_add(1, std::memory_order_release);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return true;
}

bool GuestMemory::HoldsCode(GuestAddr addr, uint64_t len) const {
  const uint64_t first = addr.value() >> 12;
  if (len == 0 || first >= code_page_count_) return false;
  const uint64_t end = addr.value() + (len - 1);
  const uint64_t last = end < addr.value()
                            ? code_page_count_ - 1
                            : std::min(end >> 12, code_page_count_ - 1);
  for (uint64_t pn = first; pn <= last; ++pn) {
    const uint64_t word = CodeWord(pn >> 6).load(std::memory_order_relaxed);
    if (word == 0) {
      pn |= 63;  // the rest of this word's pages
      continue;
    }
    if ((word >> (pn & 63)) & 1) return true;
  }
  return false;
}

bool GuestMemory::ForgetCodePages() const {
  if (code_lo_word_ == code_hi_word_) return false;
  for (size_t k = code_lo_word_; k < code_hi_word_; ++k) {
    CodeWord(k).store(0, std::memory_order_relaxed);
  }
  code_lo_word_ = code_hi_word_ = 0;
  return true;
}

}  // namespace skiff

// Test-only: builds synthetic kernel images (ELF64/ELF32 with PT_LOADs and
// an optional PVH note, bzImage-shaped files with a compressed ELF payload,
// multiboot kernels) and compresses data in the formats the loader decodes.
//
//   ElfSpec spec;
//   spec.segments.push_back({0x100000, Bytes(0x1000, 0xaa), 0x2000});
//   std::vector<uint8_t> elf = BuildElf(spec);
#ifndef SKIFF_VMM_BOOT_TEST_IMAGES_H_
#define SKIFF_VMM_BOOT_TEST_IMAGES_H_

#include <elf.h>
#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "vmm/boot/boot_params.h"
#include "vmm/boot/multiboot_loader.h"

namespace skiff::boot::testing {

inline std::vector<uint8_t> Bytes(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

template <typename T>
void Put(std::vector<uint8_t>& out, uint64_t offset, const T& value) {
  if (out.size() < offset + sizeof(T)) out.resize(offset + sizeof(T));
  std::memcpy(out.data() + offset, &value, sizeof(T));
}

inline void Append(std::vector<uint8_t>& out, const std::vector<uint8_t>& in) {
  out.insert(out.end(), in.begin(), in.end());
}

struct SegmentSpec {
  uint64_t paddr = 0;
  std::vector<uint8_t> data;
  uint64_t memsz = 0;  // >= data.size()
  uint64_t vaddr = 0;  // 0: same as paddr
};

struct ElfSpec {
  bool is64 = true;
  uint64_t entry = 0;
  std::vector<SegmentSpec> segments;
  std::optional<uint64_t> pvh_entry;
  int pvh_desc_size = 8;
};

// Layout: header, program headers, optional note, then segment data.
inline std::vector<uint8_t> BuildElf(const ElfSpec& spec) {
  const bool b64 = spec.is64;
  const size_t ehsize = b64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
  const size_t phsize = b64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
  const size_t nph = spec.segments.size() + (spec.pvh_entry ? 1 : 0);
  std::vector<uint8_t> note;
  if (spec.pvh_entry) {
    Put(note, 0, uint32_t{4});
    Put(note, 4, static_cast<uint32_t>(spec.pvh_desc_size));
    Put(note, 8, uint32_t{18});
    note.insert(note.end(), {'X', 'e', 'n', 0});
    if (spec.pvh_desc_size == 8) {
      Put(note, note.size(), *spec.pvh_entry);
    } else {
      Put(note, note.size(), static_cast<uint32_t>(*spec.pvh_entry));
    }
  }
  std::vector<uint8_t> out(ehsize + phsize * nph);
  uint64_t data_off = out.size();
  out.insert(out.end(), note.begin(), note.end());
  std::vector<uint64_t> offsets;
  for (const SegmentSpec& s : spec.segments) {
    offsets.push_back(out.size());
    Append(out, s.data);
  }
  auto phdr = [&](size_t i, uint32_t type, uint64_t off, uint64_t vaddr,
                  uint64_t paddr, uint64_t filesz, uint64_t memsz) {
    uint64_t at = ehsize + i * phsize;
    if (b64) {
      Elf64_Phdr ph{type, PF_R | PF_X, off, vaddr, paddr, filesz, memsz, 16};
      Put(out, at, ph);
    } else {
      Elf32_Phdr ph{type,
                    static_cast<Elf32_Off>(off),
                    static_cast<Elf32_Addr>(vaddr),
                    static_cast<Elf32_Addr>(paddr),
                    static_cast<Elf32_Word>(filesz),
                    static_cast<Elf32_Word>(memsz),
                    PF_R | PF_X,
                    16};
      Put(out, at, ph);
    }
  };
  size_t i = 0;
  if (spec.pvh_entry) {
    phdr(i++, PT_NOTE, data_off, 0, 0, note.size(), note.size());
  }
  for (size_t s = 0; s < spec.segments.size(); ++s) {
    const SegmentSpec& seg = spec.segments[s];
    phdr(i++, PT_LOAD, offsets[s], seg.vaddr ? seg.vaddr : seg.paddr, seg.paddr,
         seg.data.size(), std::max(seg.memsz, seg.data.size()));
  }
  unsigned char ident[EI_NIDENT] = {
      ELFMAG0,
      ELFMAG1,
      ELFMAG2,
      ELFMAG3,
      static_cast<unsigned char>(b64 ? ELFCLASS64 : ELFCLASS32),
      ELFDATA2LSB,
      EV_CURRENT};
  if (b64) {
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ident, EI_NIDENT);
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_entry = spec.entry;
    eh.e_phoff = ehsize;
    eh.e_ehsize = ehsize;
    eh.e_phentsize = phsize;
    eh.e_phnum = nph;
    Put(out, 0, eh);
  } else {
    Elf32_Ehdr eh{};
    std::memcpy(eh.e_ident, ident, EI_NIDENT);
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_386;
    eh.e_version = EV_CURRENT;
    eh.e_entry = static_cast<Elf32_Addr>(spec.entry);
    eh.e_phoff = ehsize;
    eh.e_ehsize = ehsize;
    eh.e_phentsize = phsize;
    eh.e_phnum = nph;
    Put(out, 0, eh);
  }
  return out;
}

// A typical two-segment vmlinux: text at 16 MiB, data+bss at 18 MiB.
inline ElfSpec VmlinuxSpec() {
  ElfSpec spec;
  spec.entry = 0x1000000 + 0x40;
  spec.segments.push_back({0x1000000, Bytes(0x3000, 1), 0x3000});
  spec.segments.push_back({0x1200000, Bytes(0x800, 2), 0x5000});
  return spec;
}

inline uint32_t Le32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline std::vector<uint8_t> Gzip(const std::vector<uint8_t>& in) {
  z_stream zs{};
  deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::vector<uint8_t> out(deflateBound(&zs, in.size()) + 64);
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = in.size();
  zs.next_out = out.data();
  zs.avail_out = out.size();
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

inline std::vector<uint8_t> Xz(const std::vector<uint8_t>& in) {
  std::vector<uint8_t> out(lzma_stream_buffer_bound(in.size()));
  size_t pos = 0;
  lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, nullptr, in.data(), in.size(),
                          out.data(), &pos, out.size());
  out.resize(pos);
  return out;
}

inline std::vector<uint8_t> Zstd(const std::vector<uint8_t>& in) {
  std::vector<uint8_t> out(ZSTD_compressBound(in.size()));
  out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3));
  return out;
}

// "lz4 -l": magic, then [u32 size][block] per 8 MiB of input.
inline std::vector<uint8_t> Lz4Legacy(const std::vector<uint8_t>& in) {
  std::vector<uint8_t> out;
  Put(out, 0, uint32_t{0x184c2102});
  const size_t block = 8 << 20;
  for (size_t off = 0; off < in.size(); off += block) {
    int n = static_cast<int>(std::min(block, in.size() - off));
    std::vector<uint8_t> buf(LZ4_compressBound(n));
    int c = LZ4_compress_default(reinterpret_cast<const char*>(in.data() + off),
                                 reinterpret_cast<char*>(buf.data()), n,
                                 static_cast<int>(buf.size()));
    Put(out, out.size(), static_cast<uint32_t>(c));
    out.insert(out.end(), buf.begin(), buf.begin() + c);
  }
  return out;
}

// As the kernel build does (scripts/Makefile.lib size_append).
inline std::vector<uint8_t> WithSize(std::vector<uint8_t> data, uint32_t size) {
  Put(data, data.size(), size);
  return data;
}

struct BzImageSpec {
  uint16_t version = 0x020f;
  uint8_t setup_sects = 4;
  uint32_t init_size = 0x400000;
  uint64_t pref_address = 0x1000000;
  uint32_t kernel_alignment = 0x200000;
  uint8_t relocatable = 1;
  uint16_t xloadflags = kXlfKernel64 | kXlfCanBeLoadedAbove4G;
  uint32_t cmdline_size = 2047;
  uint32_t initrd_addr_max = 0x7fffffff;
  std::vector<uint8_t> payload;  // compressed ELF, may be empty
  uint32_t pm_extra = 0x400;     // bytes of "code" before the payload
};

inline SetupHeader BzHeader(const BzImageSpec& spec) {
  SetupHeader h{};
  h.setup_sects = spec.setup_sects;
  h.boot_flag = kBootFlag;
  h.jump = 0x66eb;  // jmp to 0x268 (end of header)
  h.header = kSetupHeaderMagic;
  h.version = spec.version;
  h.loadflags = kLoadedHigh;
  h.code32_start = 0x100000;
  h.initrd_addr_max = spec.initrd_addr_max;
  h.kernel_alignment = spec.kernel_alignment;
  h.relocatable_kernel = spec.relocatable;
  h.min_alignment = 21;
  h.xloadflags = spec.xloadflags;
  h.cmdline_size = spec.cmdline_size;
  h.payload_offset = spec.payload.empty() ? 0 : spec.pm_extra;
  h.payload_length = static_cast<uint32_t>(spec.payload.size());
  h.pref_address = spec.pref_address;
  h.init_size = spec.init_size;
  return h;
}

inline std::vector<uint8_t> BuildBzImage(const BzImageSpec& spec) {
  uint64_t sects = spec.setup_sects == 0 ? 4 : spec.setup_sects;
  std::vector<uint8_t> out((sects + 1) * 512, 0);
  Put(out, kSetupHeaderOffset, BzHeader(spec));
  Append(out, Bytes(spec.pm_extra, 0x30));
  Append(out, spec.payload);
  Append(out, Bytes(0x100, 0x50));
  return out;
}

struct AoutSpec {
  uint32_t header_offset = 0x40;
  uint32_t load_addr = 0x100000;
  uint32_t code_size = 0x2000;  // bytes after the load start, incl. header
  uint32_t bss_size = 0x3000;
  uint32_t entry_offset = 0x100;
};

inline std::vector<uint8_t> BuildMultibootAout(const AoutSpec& s) {
  std::vector<uint8_t> out = Bytes(s.code_size, 9);
  MultibootHeader h{};
  h.magic = kMultibootHeaderMagic;
  h.flags = kMultibootAoutKludge | kMultibootMemoryInfo;
  h.checksum = static_cast<uint32_t>(-(h.magic + h.flags));
  h.header_addr = s.load_addr + s.header_offset;
  h.load_addr = s.load_addr;
  h.load_end_addr = s.load_addr + s.code_size;
  h.bss_end_addr = s.load_addr + s.code_size + s.bss_size;
  h.entry_addr = s.load_addr + s.entry_offset;
  Put(out, s.header_offset, h);
  return out;
}

}  // namespace skiff::boot::testing

#endif  // SKIFF_VMM_BOOT_TEST_IMAGES_H_

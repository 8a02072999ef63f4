#include "tools/bench/svg_plot.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace skiff::bench {
namespace {

// A minimal XML well-formedness check: balanced, properly nested tags,
// quoted attributes, only the predefined entities, one root element.
// Returns "" when fine, else what is wrong; counts elements by name.
std::string CheckXml(const std::string& xml, std::map<std::string, int>& counts,
                     std::string& root) {
  std::vector<std::string> stack;
  size_t i = 0;
  int roots = 0;
  auto check_entities = [](std::string_view text) -> bool {
    for (size_t p = text.find('&'); p != std::string_view::npos;
         p = text.find('&', p + 1)) {
      const std::string_view rest = text.substr(p);
      bool ok = false;
      for (std::string_view e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"}) {
        ok = ok || rest.substr(0, e.size()) == e;
      }
      if (!ok) return false;
    }
    return true;
  };
  if (xml.rfind("<?xml", 0) == 0) {
    i = xml.find("?>");
    if (i == std::string::npos) return "unterminated declaration";
    i += 2;
  }
  while (i < xml.size()) {
    const size_t lt = xml.find('<', i);
    const std::string_view text(
        xml.data() + i, (lt == std::string::npos ? xml.size() : lt) - i);
    if (!check_entities(text)) return "bad entity in text";
    if (text.find('>') != std::string_view::npos) return "stray >";
    if (stack.empty() && text.find_first_not_of(" \n\t") != std::string::npos) {
      return "text outside the root";
    }
    if (lt == std::string::npos) break;
    const size_t gt = xml.find('>', lt);
    if (gt == std::string::npos) return "unterminated tag";
    std::string tag = xml.substr(lt + 1, gt - lt - 1);
    i = gt + 1;
    if (tag.empty()) return "empty tag";
    if (tag[0] == '/') {
      if (stack.empty() || stack.back() != tag.substr(1)) {
        return "mismatched </" + tag.substr(1) + ">";
      }
      stack.pop_back();
      continue;
    }
    const bool self_closing = tag.back() == '/';
    if (self_closing) tag.pop_back();
    const size_t sp = tag.find_first_of(" \n");
    const std::string name = tag.substr(0, sp);
    if (name.empty() || name.find_first_of("<\"'=") != std::string::npos) {
      return "bad tag name";
    }
    // Attributes: name="value" pairs.
    std::string_view attrs = sp == std::string::npos
                                 ? std::string_view()
                                 : std::string_view(tag).substr(sp);
    while (!attrs.empty()) {
      while (!attrs.empty() && (attrs[0] == ' ' || attrs[0] == '\n'))
        attrs.remove_prefix(1);
      if (attrs.empty()) break;
      const size_t eq = attrs.find('=');
      if (eq == std::string_view::npos || eq + 1 >= attrs.size() ||
          attrs[eq + 1] != '"') {
        return "unquoted attribute in <" + name + ">";
      }
      const size_t close = attrs.find('"', eq + 2);
      if (close == std::string_view::npos) return "unterminated attribute";
      const std::string_view value = attrs.substr(eq + 2, close - eq - 2);
      if (value.find('<') != std::string_view::npos || !check_entities(value)) {
        return "bad attribute value";
      }
      attrs.remove_prefix(close + 1);
    }
    if (stack.empty()) {
      ++roots;
      root = name;
    }
    ++counts[name];
    if (!self_closing) stack.push_back(name);
  }
  if (!stack.empty()) return "unclosed <" + stack.back() + ">";
  if (roots != 1) return "expected one root element";
  return "";
}

BenchReport Report() {
  BenchReport report;
  report.config = BenchConfig{.runs = 3, .parallel = 1, .accel = "tcg"};
  for (const char* name : {"skiff", "q<e>mu&"}) {
    VmmResult v{.name = name};
    for (int i = 0; i < 3; ++i) {
      BootRun r;
      r.ok = true;
      r.console_us = 500'000 + i * 1000;
      r.init_us = 2'000'000 + i * 100'000;
      r.exit_us = 2'500'000 + i * 100'000;
      if (v.name == "skiff") r.guest_entry_us = 30'000;
      v.runs.push_back(r);
    }
    report.vmms.push_back(v);
  }
  return report;
}

TEST(SvgPlot, IsWellFormedWithOneCdfPerPhaseAndVmm) {
  const std::string svg = RenderCdfSvg(Report());
  std::map<std::string, int> counts;
  std::string root;
  EXPECT_EQ(CheckXml(svg, counts, root), "") << svg;
  EXPECT_EQ(root, "svg");
  EXPECT_NE(svg.find("xmlns=\"http://www.w3.org/2000/svg\""),
            std::string::npos);
  EXPECT_EQ(counts["g"], 4);  // one panel per phase
  // 4 phases x 2 VMMs, except guest entry for the second VMM.
  EXPECT_EQ(counts["polyline"], 7);
  EXPECT_NE(svg.find("time since VMM spawn (ms)"), std::string::npos);
  EXPECT_NE(svg.find("fraction of boots"), std::string::npos);
  EXPECT_NE(svg.find("q&lt;e&gt;mu&amp;: unavailable"), std::string::npos);
  EXPECT_NE(svg.find("skiff (n=3, p50 2100.0 ms)"), std::string::npos);
}

TEST(SvgPlot, EmptyReportStillWellFormed) {
  BenchReport report;
  report.vmms.push_back(VmmResult{.name = "skiff"});
  std::map<std::string, int> counts;
  std::string root;
  EXPECT_EQ(CheckXml(RenderCdfSvg(report), counts, root), "");
  EXPECT_EQ(counts["polyline"], 0);
}

TEST(SvgPlot, CheckerCatchesBrokenXml) {
  std::map<std::string, int> counts;
  std::string root;
  EXPECT_NE(CheckXml("<svg><g></svg>", counts, root), "");
  EXPECT_NE(CheckXml("<svg a=b></svg>", counts, root), "");
  EXPECT_NE(CheckXml("<svg>&nbsp;</svg>", counts, root), "");
  EXPECT_NE(CheckXml("<a/><b/>", counts, root), "");
}

TEST(SvgPlot, XmlEscapeDropsControlBytes) {
  EXPECT_EQ(XmlEscape("a<b>&\"'\x01\xff"), "a&lt;b&gt;&amp;&quot;&apos;");
}

TEST(SvgPlot, NiceTicks) {
  EXPECT_EQ(NiceTicks(2100, 5),
            (std::vector<double>{0, 500, 1000, 1500, 2000, 2500}));
  const std::vector<double> small = NiceTicks(1, 5);
  ASSERT_EQ(small.size(), 6u);
  EXPECT_NEAR(small[3], 0.6, 1e-9);
  EXPECT_GE(small.back(), 1 - 1e-9);
  EXPECT_EQ(NiceTicks(0, 5), (std::vector<double>{0, 1}));
}

}  // namespace
}  // namespace skiff::bench

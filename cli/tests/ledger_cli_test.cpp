// The ledger's command lines (ledger/ledger.json "shows"): each exits and prints as recorded.
#include <gtest/gtest.h>

#include <string>

#include "cli/tests/cli_util.h"
#include "ledger/ledger.h"

namespace {

TEST(CliLedger, EveryShowPrintsWhatItRecords) {
  int run = 0;
  for (const mlaps::LedgerEntry& e : mlaps::ledger()) {
    for (const mlaps::LedgerShow& sh : e.shows) {
      if (sh.args.empty()) continue;  // a test reference (ledger_test checks it exists)
      SCOPED_TRACE(e.id + "/" + sh.name);
      std::string args;
      for (const std::string& a : sh.args) args += (args.empty() ? "" : " ") + a;
      const auto r = mlaps_cli_test::mlaps(args);
      EXPECT_EQ(r.code, sh.exit_code) << "mlaps " << args << "\n" << r.out;
      for (const std::string& want : sh.expect) {
        EXPECT_NE(r.out.find(want), std::string::npos)
            << "mlaps " << args << " does not print \"" << want << "\":\n"
            << r.out;
      }
      ++run;
    }
  }
  EXPECT_GE(run, 8);
  // `mlaps ledger` lists them.
  const auto l = mlaps_cli_test::mlaps("ledger");
  ASSERT_EQ(l.code, 0) << l.out;
  EXPECT_NE(l.out.find("shows upstream_default_vs_truth"), std::string::npos) << l.out;
}

}  // namespace

#include "kmesh/kmeshctl/command_line.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kmesh::kmeshctl {
namespace {

std::string Msg(const absl::Status& status) {
  return std::string(status.message());
}

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const std::string kKey(72, 'a');

absl::StatusOr<CliInvocation> Parse(std::vector<std::string> args) {
  return ParseCommandLine(args);
}

TEST(CommandLineTest, SecretCreateWithoutKeyIsRandom) {
  absl::StatusOr<CliInvocation> cli = Parse({"secret", "create"});
  ASSERT_TRUE(cli.ok()) << cli.status();
  EXPECT_EQ(cli->action, CliAction::kSecretCreate);
  EXPECT_FALSE(cli->key.has_value());
  EXPECT_EQ(cli->kubeconfig, "");
}

TEST(CommandLineTest, KeyFlagInEverySpelling) {
  const std::vector<std::vector<std::string>> spellings = {
      {"secret", "create", "--key=" + kKey},
      {"secret", "create", "--key", kKey},
      {"secret", "create", "-k", kKey},
      {"secret", "create", "-k=" + kKey},
      {"secret", "create", "-k" + kKey},
      {"secret", "--key=" + kKey, "create"},
  };
  for (const auto& args : spellings) {
    absl::StatusOr<CliInvocation> cli = Parse(args);
    ASSERT_TRUE(cli.ok()) << cli.status();
    EXPECT_EQ(cli->action, CliAction::kSecretCreate);
    ASSERT_TRUE(cli->key.has_value());
    EXPECT_EQ(*cli->key, kKey);
    // Where the key is, so main can blank it in argv.
    ASSERT_TRUE(cli->key_position.has_value());
    const auto [index, offset] = *cli->key_position;
    EXPECT_EQ(args[index].substr(offset), kKey);
  }
}

TEST(CommandLineTest, EmptyKeyValueIsKeptForValidation) {
  absl::StatusOr<CliInvocation> cli = Parse({"secret", "create", "--key="});
  ASSERT_TRUE(cli.ok()) << cli.status();
  ASSERT_TRUE(cli->key.has_value());
  EXPECT_EQ(*cli->key, "");
}

TEST(CommandLineTest, GlobalFlagsAnywhere) {
  absl::StatusOr<CliInvocation> cli =
      Parse({"--kubeconfig", "/tmp/kc", "secret", "get", "--context=kind"});
  ASSERT_TRUE(cli.ok()) << cli.status();
  EXPECT_EQ(cli->action, CliAction::kSecretGet);
  EXPECT_EQ(cli->kubeconfig, "/tmp/kc");
  EXPECT_EQ(cli->context, "kind");
  EXPECT_EQ(cli->output, SecretOutputFormat::kText);
}

TEST(CommandLineTest, RequestTimeoutInKubectlSyntax) {
  EXPECT_FALSE(Parse({"secret", "get"})->request_timeout.has_value());
  EXPECT_EQ(Parse({"secret", "get", "--request-timeout=2m"})->request_timeout,
            absl::Minutes(2));
  EXPECT_EQ(Parse({"secret", "get", "--request-timeout", "5"})->request_timeout,
            absl::Seconds(5));
  EXPECT_EQ(Parse({"--request-timeout=0", "secret", "delete"})->request_timeout,
            absl::ZeroDuration());
  absl::StatusOr<CliInvocation> bad =
      Parse({"secret", "get", "--request-timeout=soon"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(Msg(bad.status()),
              StartsWith("Error: invalid argument \"soon\" for "
                         "--request-timeout"));
}

// Values kubectl would refuse are refused (Abseil's "inf" is no Go
// duration; negative values; beyond Go's ~292 years; garbage), and huge
// ones are clamped to a day: before, "inf" and "2562047h" went through as
// durations whose milliseconds overflowed the transport's deadline.
TEST(CommandLineTest, RequestTimeoutRefusesInfAndClampsHugeValues) {
  for (const char* bad : {"inf", "-inf", "+inf", "INF", "-1", "-1s", "1e3",
                          "3000000h", "", "5 s", "1x"}) {
    absl::StatusOr<CliInvocation> cli =
        Parse({"secret", "get", absl::StrCat("--request-timeout=", bad)});
    EXPECT_FALSE(cli.ok()) << bad << " was accepted";
  }
  EXPECT_EQ(
      Parse({"secret", "get", "--request-timeout=2562047h"})->request_timeout,
      kMaxRequestTimeout);
  EXPECT_EQ(Parse({"secret", "get", "--request-timeout=99999999999999"})
                ->request_timeout,
            kMaxRequestTimeout);
  EXPECT_EQ(Parse({"secret", "get", "--request-timeout=2m3s"})->request_timeout,
            absl::Seconds(123));
  EXPECT_EQ(Parse({"secret", "get", "--request-timeout=1.5s"})->request_timeout,
            absl::Milliseconds(1500));
  EXPECT_EQ(Parse({"secret", "get", "--request-timeout=10"})->request_timeout,
            absl::Seconds(10));
}

TEST(CommandLineTest, OutputJson) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"secret", "get", "-o", "json"},
           {"secret", "get", "-ojson"},
           {"secret", "get", "--output=json"}}) {
    absl::StatusOr<CliInvocation> cli = Parse(args);
    ASSERT_TRUE(cli.ok()) << cli.status();
    EXPECT_EQ(cli->output, SecretOutputFormat::kJson);
  }
}

TEST(CommandLineTest, UnsupportedOutputFormat) {
  absl::StatusOr<CliInvocation> cli = Parse({"secret", "get", "-o", "yaml"});
  ASSERT_FALSE(cli.ok());
  EXPECT_EQ(Msg(cli.status()),
            "Error: unsupported output format \"yaml\" (the only one is -o "
            "json)\nRun 'kmeshctl secret get --help' for usage.\n");
}

TEST(CommandLineTest, StatusWithOutputAndLagThreshold) {
  absl::StatusOr<CliInvocation> plain = Parse({"secret", "status"});
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->action, CliAction::kSecretStatus);
  EXPECT_EQ(plain->output, SecretOutputFormat::kText);
  EXPECT_FALSE(plain->lag_threshold.has_value());
  absl::StatusOr<CliInvocation> cli =
      Parse({"secret", "status", "-o", "json", "--lag-threshold=90s"});
  ASSERT_TRUE(cli.ok()) << cli.status();
  EXPECT_EQ(cli->output, SecretOutputFormat::kJson);
  EXPECT_EQ(cli->lag_threshold, absl::Seconds(90));
  absl::StatusOr<CliInvocation> bad =
      Parse({"secret", "status", "--lag-threshold=soon"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(Msg(bad.status()),
            "Error: invalid argument \"soon\" for --lag-threshold: give a "
            "duration such as 90s or 5m\nRun 'kmeshctl secret status --help' "
            "for usage.\n");
  // --lag-threshold belongs to status only.
  EXPECT_FALSE(Parse({"secret", "get", "--lag-threshold=1m"}).ok());
}

TEST(CommandLineTest, StatusHelpExplainsTheExitCodes) {
  absl::StatusOr<CliInvocation> cli = Parse({"secret", "status", "--help"});
  ASSERT_TRUE(cli.ok());
  EXPECT_THAT(cli->help_text, HasSubstr("pods/proxy"));
  EXPECT_THAT(cli->help_text, HasSubstr("Exit status: 0 when all is well"));
  EXPECT_THAT(cli->help_text, HasSubstr("--lag-threshold"));
}

TEST(CommandLineTest, Delete) {
  absl::StatusOr<CliInvocation> cli = Parse({"secret", "delete"});
  ASSERT_TRUE(cli.ok());
  EXPECT_EQ(cli->action, CliAction::kSecretDelete);
}

TEST(CommandLineTest, HelpAtEveryLevelInKubectlLayout) {
  struct Case {
    std::vector<std::string> args;
    std::string usage_line;
  };
  for (const Case& c : std::vector<Case>{
           {{"--help"}, "  kmeshctl [command]\n"},
           {{}, "  kmeshctl [command]\n"},
           {{"help"}, "  kmeshctl [command]\n"},
           {{"secret"}, "  kmeshctl secret [command]\n"},
           {{"secret", "-h"}, "  kmeshctl secret [command]\n"},
           {{"help", "secret", "create"}, "  kmeshctl secret create [flags]\n"},
           {{"secret", "create", "-h"}, "  kmeshctl secret create [flags]\n"},
           {{"secret", "create", "--key=x", "--help"},
            "  kmeshctl secret create [flags]\n"},
           {{"secret", "get", "--help"}, "  kmeshctl secret get [flags]\n"},
           {{"secret", "delete", "--help"},
            "  kmeshctl secret delete [flags]\n"},
       }) {
    absl::StatusOr<CliInvocation> cli = Parse(c.args);
    ASSERT_TRUE(cli.ok()) << cli.status();
    EXPECT_EQ(cli->action, CliAction::kShowHelp);
    EXPECT_THAT(cli->help_text, HasSubstr("\nUsage:\n" + c.usage_line));
    EXPECT_THAT(cli->help_text, HasSubstr("\nFlags:\n"));
    EXPECT_THAT(cli->help_text, HasSubstr("--kubeconfig string"));
  }
}

TEST(CommandLineTest, CreateHelpShowsExamplesAndFlags) {
  absl::StatusOr<CliInvocation> cli = Parse({"secret", "create", "--help"});
  ASSERT_TRUE(cli.ok());
  const std::string& help = cli->help_text;
  EXPECT_THAT(help, HasSubstr("\nExamples:\n  # Create the key"));
  EXPECT_THAT(help, HasSubstr("xxd -p -c 64"));
  EXPECT_THAT(help, HasSubstr("\n  -h, --help         help for create\n"));
  EXPECT_THAT(help, HasSubstr("\n  -k, --key string   The key as 72 hex"));
  EXPECT_THAT(help, HasSubstr("\nGlobal Flags:\n      --as string"));
  EXPECT_THAT(help, HasSubstr("\n      --as-group stringArray"));
  EXPECT_THAT(help, HasSubstr("\n      --context string"));
  EXPECT_THAT(help, HasSubstr("\n  -n, --namespace string"));
  EXPECT_THAT(help, HasSubstr("\n      --insecure-allow-http-credentials "));
}

TEST(CommandLineTest, SecretHelpListsSubcommands) {
  absl::StatusOr<CliInvocation> cli = Parse({"secret", "--help"});
  ASSERT_TRUE(cli.ok());
  EXPECT_THAT(cli->help_text,
              HasSubstr("Available Commands:\n  create      Create"));
  EXPECT_THAT(cli->help_text, HasSubstr("\n  delete      Delete"));
  EXPECT_THAT(cli->help_text, HasSubstr("\n  get         Show"));
  EXPECT_THAT(cli->help_text, HasSubstr("\n  status      Show whether"));
  EXPECT_THAT(cli->help_text,
              HasSubstr("Use \"kmeshctl secret [command] --help\""));
}

TEST(CommandLineTest, UnknownCommandSuggestsTheClosest) {
  absl::StatusOr<CliInvocation> cli = Parse({"secret", "crate"});
  ASSERT_FALSE(cli.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(cli.status()));
  EXPECT_EQ(Msg(cli.status()),
            "Error: unknown command \"crate\" for \"kmeshctl secret\"\n\n"
            "Did you mean this?\n\tcreate\n\n"
            "Run 'kmeshctl secret --help' for usage.\n");
}

TEST(CommandLineTest, UnknownTopLevelCommand) {
  absl::StatusOr<CliInvocation> cli = Parse({"secrets"});
  ASSERT_FALSE(cli.ok());
  EXPECT_THAT(Msg(cli.status()),
              StartsWith("Error: unknown command \"secrets\" for "
                         "\"kmeshctl\""));
  EXPECT_THAT(Msg(cli.status()), HasSubstr("\tsecret\n"));
}

TEST(CommandLineTest, KeyTypedAsAnArgumentIsNotEchoed) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"secret", "create", kKey}, {"secret", kKey}}) {
    absl::StatusOr<CliInvocation> cli = Parse(args);
    ASSERT_FALSE(cli.ok());
    EXPECT_THAT(Msg(cli.status()), Not(HasSubstr(kKey.substr(0, 16))));
  }
  EXPECT_THAT(Msg(Parse({"secret", "create", kKey}).status()),
              HasSubstr("takes no arguments, got 1 (give the key with "
                        "--key=HEX)"));
}

TEST(CommandLineTest, UnknownFlagNamesOnlyTheFlag) {
  absl::StatusOr<CliInvocation> cli =
      Parse({"secret", "create", "--kye=" + kKey});
  ASSERT_FALSE(cli.ok());
  EXPECT_THAT(Msg(cli.status()), StartsWith("Error: unknown flag: --kye\n"));
  EXPECT_THAT(Msg(cli.status()), Not(HasSubstr(kKey.substr(0, 16))));
}

TEST(CommandLineTest, FlagOfAnotherCommandIsUnknown) {
  absl::StatusOr<CliInvocation> cli = Parse({"secret", "get", "-k", kKey});
  ASSERT_FALSE(cli.ok());
  EXPECT_EQ(Msg(cli.status()),
            "Error: unknown flag: -k\n"
            "Run 'kmeshctl secret get --help' for usage.\n");
  EXPECT_FALSE(Parse({"secret", "delete", "-o", "json"}).ok());
}

TEST(CommandLineTest, UnknownShorthand) {
  absl::StatusOr<CliInvocation> cli = Parse({"secret", "create", "-x"});
  ASSERT_FALSE(cli.ok());
  EXPECT_THAT(Msg(cli.status()),
              StartsWith("Error: unknown shorthand flag: 'x'\n"));
}

TEST(CommandLineTest, MissingFlagValue) {
  absl::StatusOr<CliInvocation> cli = Parse({"secret", "create", "--key"});
  ASSERT_FALSE(cli.ok());
  EXPECT_THAT(Msg(cli.status()),
              StartsWith("Error: flag needs an argument: --key\n"));
}

TEST(CommandLineTest, ArgumentsAfterDoubleDashAreNotFlags) {
  absl::StatusOr<CliInvocation> cli = Parse({"secret", "--", "get", "-h"});
  ASSERT_FALSE(cli.ok());
  EXPECT_THAT(Msg(cli.status()),
              HasSubstr("\"kmeshctl secret get\" takes no arguments"));
}

TEST(CommandLineTest, ImpersonationFlagsAsKubectlSpellsThem) {
  absl::StatusOr<CliInvocation> cli =
      Parse({"--as", "jane", "secret", "get", "--as-group=dev", "--as-group",
             "system:masters", "--as-uid=42"});
  ASSERT_TRUE(cli.ok()) << cli.status();
  EXPECT_EQ(cli->action, CliAction::kSecretGet);
  EXPECT_EQ(cli->as_user, "jane");
  EXPECT_EQ(cli->as_groups,
            (std::vector<std::string>{"dev", "system:masters"}));
  EXPECT_EQ(cli->as_uid, "42");
  EXPECT_FALSE(cli->allow_http_credentials);
  // Not given: nothing overrides the kubeconfig.
  cli = Parse({"secret", "delete"});
  ASSERT_TRUE(cli.ok());
  EXPECT_TRUE(cli->as_user.empty());
  EXPECT_TRUE(cli->as_groups.empty());
  EXPECT_TRUE(cli->as_uid.empty());
  // A value is required.
  cli = Parse({"secret", "get", "--as"});
  ASSERT_FALSE(cli.ok());
  EXPECT_THAT(Msg(cli.status()), HasSubstr("flag needs an argument: --as"));
}

TEST(CommandLineTest, InsecureHttpCredentialsIsAnExplicitBooleanFlag) {
  absl::StatusOr<CliInvocation> cli =
      Parse({"secret", "create", "--insecure-allow-http-credentials"});
  ASSERT_TRUE(cli.ok()) << cli.status();
  EXPECT_TRUE(cli->allow_http_credentials);
  cli = Parse({"secret", "create", "--insecure-allow-http-credentials=false"});
  ASSERT_TRUE(cli.ok()) << cli.status();
  EXPECT_FALSE(cli->allow_http_credentials);
  cli = Parse({"secret", "create", "--insecure-allow-http-credentials=yes"});
  EXPECT_FALSE(cli.ok());
}

TEST(CommandLineTest, NamespaceOnlyKmeshSystem) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"-n", "kmesh-system", "secret", "get"},
           {"secret", "get", "--namespace=kmesh-system"},
           {"secret", "status", "-nkmesh-system"}}) {
    absl::StatusOr<CliInvocation> cli = Parse(args);
    EXPECT_TRUE(cli.ok()) << cli.status();
  }
  absl::StatusOr<CliInvocation> cli =
      Parse({"secret", "create", "-n", "default"});
  ASSERT_FALSE(cli.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(cli.status()));
  EXPECT_THAT(Msg(cli.status()),
              HasSubstr("--namespace \"default\" is not supported: the IPsec "
                        "Secret must be in kmesh-system"));
}

}  // namespace
}  // namespace kmesh::kmeshctl

// The main() of a fuzz target's ordinary (gcc) build, kmesh_fuzz_test's
// <name> test: runs LLVMFuzzerTestOneInput once on every regular file under
// each directory (or file) given as an argument, in sorted order, printing
// each name first so a crash names its input. Fails when no input was found
// (a misnamed corpus would otherwise pass silently). The inputs are what
// libFuzzer would pass: the file's bytes, in a buffer of exactly their size.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc,
                                                          char*** argv);

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) {
    std::error_code ec;
    const std::filesystem::path root(argv[i]);
    if (std::filesystem::is_regular_file(root, ec)) {
      inputs.push_back(root);
      continue;
    }
    for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
         !ec && it != std::filesystem::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->is_regular_file(ec)) inputs.push_back(it->path());
    }
    if (ec) {
      std::fprintf(stderr, "cannot read %s: %s\n", argv[i],
                   ec.message().c_str());
      return 1;
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "no corpus input found\n");
    return 1;
  }
  std::sort(inputs.begin(), inputs.end());
  for (const std::filesystem::path& path : inputs) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
    std::printf("%s (%zu bytes)\n", path.c_str(), bytes.size());
    std::fflush(stdout);
    // An exactly-sized copy, so an overread past the input is caught the
    // way libFuzzer's would be (under ASan).
    std::unique_ptr<uint8_t[]> copy(new uint8_t[bytes.size()]);
    std::copy(bytes.begin(), bytes.end(), copy.get());
    LLVMFuzzerTestOneInput(copy.get(), bytes.size());
  }
  std::printf("%zu inputs ran\n", inputs.size());
  return 0;
}

// Replays fuzz inputs through a libFuzzer entry point in ordinary (GCC, non-fuzz) builds, so
// every test run checks the fuzz targets against their seed corpus: a crash, sanitizer report or
// hang here is a bug the fuzzer would find. Arguments: files or folders (read recursively).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::size_t Replay(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  // Every prefix too: truncated input is what a fuzzer tries first and a network delivers often.
  for (std::size_t cut = 1; cut < bytes.size() && cut < 4096; cut += 1 + cut / 8) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), cut);
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t files = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path path = argv[i];
    if (std::filesystem::is_directory(path)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(path)) {
        if (entry.is_regular_file()) {
          files += Replay(entry.path());
        }
      }
    } else if (std::filesystem::is_regular_file(path)) {
      files += Replay(path);
    } else {
      std::fprintf(stderr, "replay: no such input %s\n", argv[i]);
      return 1;
    }
  }
  std::printf("replayed %zu inputs\n", files);
  return files == 0 ? 1 : 0;
}

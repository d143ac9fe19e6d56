#pragma once
// Files in and out, safely: bounded reads of untrusted input, and one writer for every output of every
// command. The writer checks every target before it writes anything, stages each file complete beside its
// target and renames it into place, and never removes or replaces anything but its own files: no device
// node, FIFO, socket, folder or symbolic link, and no file of a folder that is not one of the output's names.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mlaps {

// Reads at most `max_bytes` of `path` (any readable file, pipes included) and throws InputError(field, ...)
// naming the path and the limit when it holds more, so /dev/zero or a huge sparse file is refused after
// max_bytes + 1 bytes, not read whole. A regular file's size is checked before anything is read.
std::string read_file_bounded(const std::string& field, const std::filesystem::path& path,
                              uint64_t max_bytes);

// Bytes of one output file: owned, or a view of caller memory that outlives the OutputSet's commit().
struct Blob {
  std::string owned;
  const char* data = nullptr;
  size_t size = 0;
  static Blob copy(std::string s) {
    Blob b;
    b.owned = std::move(s);
    b.size = b.owned.size();
    return b;
  }
  static Blob view(const void* p, size_t n) {
    Blob b;
    b.data = static_cast<const char*>(p);
    b.size = n;
    return b;
  }
  const char* bytes() const { return data ? data : owned.data(); }
};

struct DirFile {
  std::string name;  // relative to the folder: "q.bin", or one level down: "metadata/work_info.bin"
  Blob blob;
};

class OutputSet {
 public:
  // One file at `path` (a regular file there is replaced; anything else is refused). `flag` names the
  // option in every error ("--svg").
  void add_file(std::string flag, std::filesystem::path path, Blob blob);
  // A folder of files the output owns (created with its parents when missing). Entries of an existing folder
  // that are not the output's names are left alone; without `force` such a folder is refused.
  void add_dir(std::string flag, std::filesystem::path dir, std::vector<DirFile> files, bool force);
  bool empty() const { return targets_.empty(); }

  // Checks every target; throws InputError(flag, ...) before anything is written. commit() calls it.
  void check() const;
  // Writes every file to a temporary sibling, then renames each into place. When writing any of them fails,
  // nothing is renamed, the temporaries and the folders created are removed, and InputError names the path.
  void commit();

 private:
  struct Target {
    std::string flag;
    std::filesystem::path dir;   // folder outputs: the folder; file outputs: empty
    std::filesystem::path path;  // file outputs: the file
    std::vector<DirFile> files;  // folder outputs
    Blob blob;                   // file outputs
    bool force = false;
  };
  std::vector<Target> targets_;
};

// One file through an OutputSet: checked, staged beside `path`, renamed into place (the common single-output
// case of a command's --svg / --out).
void write_output_file(const std::string& flag, const std::filesystem::path& path, std::string bytes);

}  // namespace mlaps

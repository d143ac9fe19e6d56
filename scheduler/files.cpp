// Bounded reads and the one output writer (see files.h).
#include "scheduler/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <system_error>

#include <fmt/format.h>

#include "scheduler/error.h"

namespace mlaps {
namespace {

namespace fs = std::filesystem;

// fmt, not "'" + ... + "'": GCC 12 at -O3 (the Release build) reports a -Wrestrict false positive in the
// inlined operator+(const char*, std::string&&).
std::string quoted(const fs::path& p) {
  return fmt::format("'{}'", p.string());
}

// "a folder", "a device node", ... for anything that is not a regular file; "" for a regular file.
std::string non_regular_kind(fs::file_status st) {
  switch (st.type()) {
    case fs::file_type::regular:
      return "";
    case fs::file_type::directory:
      return "a folder";
    case fs::file_type::character:
    case fs::file_type::block:
      return "a device node";
    case fs::file_type::fifo:
      return "a FIFO";
    case fs::file_type::socket:
      return "a socket";
    case fs::file_type::symlink:
      return "a symbolic link";
    default:
      return "not a regular file";
  }
}

bool exists_nofollow(const fs::path& p, fs::file_status* st = nullptr) {
  std::error_code ec;
  const fs::file_status s = fs::symlink_status(p, ec);
  if (st) *st = s;
  return !ec && s.type() != fs::file_type::not_found && s.type() != fs::file_type::none;
}

// "out/" and "out/." name the folder "out".
fs::path folder_path(const fs::path& dir) {
  fs::path d = dir.lexically_normal();
  if (!d.has_filename() && d.has_parent_path() && d != d.root_path()) d = d.parent_path();
  return d.empty() ? fs::path(".") : d;
}

fs::path parent_of(const fs::path& p) {
  const fs::path parent = p.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

std::string sys_error(int err) {
  return std::system_category().message(err);
}

// Writes the bytes to a new file (O_EXCL); returns 0 or the errno of the failure (the file is then removed).
int write_new_file(const fs::path& path, const char* data, size_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  int err = 0;
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, std::min<size_t>(size - done, size_t{1} << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) ::unlink(path.c_str());
  return err;
}

}  // namespace

std::string read_file_bounded(const std::string& field, const fs::path& path, uint64_t max_bytes) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || st.type() == fs::file_type::not_found) {
    throw InputError(field, quoted(path) + " cannot be read (no such file)");
  }
  if (st.type() == fs::file_type::directory)
    throw InputError(field, quoted(path) + " is a folder, not a file");
  if (st.type() == fs::file_type::regular) {
    const auto size = fs::file_size(path, ec);
    if (!ec && size > max_bytes) {
      throw InputError(field, quoted(path) + " is " + std::to_string(size) + " bytes, more than the " +
                                  std::to_string(max_bytes) + " bytes it can hold for a real problem");
    }
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError(field, quoted(path) + " cannot be read");
  std::string out;
  std::string chunk(size_t{1} << 16, '\0');
  while (f) {
    f.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto n = static_cast<size_t>(f.gcount());
    if (out.size() + n > max_bytes) {
      throw InputError(field, quoted(path) + " holds more than the " + std::to_string(max_bytes) +
                                  " bytes it can hold for a real problem; refused without reading further");
    }
    out.append(chunk.data(), n);
  }
  if (f.bad()) throw InputError(field, quoted(path) + " cannot be read");
  return out;
}

void OutputSet::add_file(std::string flag, fs::path path, Blob blob) {
  Target t;
  t.flag = std::move(flag);
  t.path = std::move(path);
  t.blob = std::move(blob);
  targets_.push_back(std::move(t));
}

void OutputSet::add_dir(std::string flag, fs::path dir, std::vector<DirFile> files, bool force) {
  Target t;
  t.flag = std::move(flag);
  t.dir = folder_path(dir);
  t.files = std::move(files);
  t.force = force;
  targets_.push_back(std::move(t));
}

namespace {

// Checks an existing folder against the names an output owns in it: an owned name must be a regular file
// (or, for a sub-folder, a folder); anything else is foreign. Returns the foreign entries' names.
std::vector<std::string> scan_folder(const std::string& flag, const fs::path& dir,
                                     const std::set<std::string>& own_files,
                                     const std::set<std::string>& own_dirs) {
  std::vector<std::string> foreign;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) throw InputError(flag, quoted(dir) + " cannot be listed: " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) throw InputError(flag, quoted(dir) + " cannot be listed: " + ec.message());
    const std::string name = it->path().filename().string();
    fs::file_status st;
    exists_nofollow(it->path(), &st);
    if (own_dirs.count(name)) {
      if (st.type() != fs::file_type::directory) {
        throw InputError(flag, quoted(it->path()) + " is " +
                                   (st.type() == fs::file_type::regular ? "a file" : non_regular_kind(st)) +
                                   ", not the dump's folder; refusing to replace it");
      }
    } else if (own_files.count(name)) {
      const std::string kind = non_regular_kind(st);
      if (!kind.empty()) {
        throw InputError(flag, quoted(it->path()) + " is " + kind + "; refusing to replace it");
      }
    } else {
      foreign.push_back(name);
    }
  }
  std::sort(foreign.begin(), foreign.end());
  return foreign;
}

}  // namespace

void OutputSet::check() const {
  std::set<fs::path> finals;
  auto claim = [&](const std::string& flag, const fs::path& p) {
    std::error_code ec;
    const fs::path abs = fs::weakly_canonical(fs::absolute(p, ec), ec);
    if (!finals.insert(ec ? p.lexically_normal() : abs).second) {
      throw InputError(flag, quoted(p) + " is also written by another output of this command");
    }
  };
  for (const Target& t : targets_) {
    if (t.dir.empty()) {
      const std::string s = t.path.string();
      if (s.empty()) throw InputError(t.flag, "is an empty path");
      if (s.back() == '/' || !t.path.has_filename() || t.path.filename() == "." ||
          t.path.filename() == "..") {
        throw InputError(t.flag, quoted(t.path) + " names a folder; give a file name");
      }
      fs::file_status st;
      if (exists_nofollow(t.path, &st)) {
        const std::string kind = non_regular_kind(st);
        if (!kind.empty())
          throw InputError(t.flag, quoted(t.path) + " is " + kind + "; refusing to replace it");
      }
      std::error_code ec;
      const fs::path parent = parent_of(t.path);
      if (!fs::is_directory(parent, ec))
        throw InputError(t.flag, "folder " + quoted(parent) + " does not exist");
      claim(t.flag, t.path);
      continue;
    }
    // A folder output.
    std::set<std::string> top_files, top_dirs;
    std::set<std::string> sub_names;  // "metadata/x" -> x under its sub-folder
    for (const DirFile& f : t.files) {
      const auto slash = f.name.find('/');
      if (slash == std::string::npos) {
        top_files.insert(f.name);
      } else {
        top_dirs.insert(f.name.substr(0, slash));
      }
      claim(t.flag, t.dir / f.name);
    }
    std::error_code ec;
    const fs::file_status st = fs::status(t.dir, ec);
    if (!ec && st.type() != fs::file_type::not_found) {
      if (st.type() != fs::file_type::directory) {
        throw InputError(t.flag, quoted(t.dir) + " exists and is " +
                                     (st.type() == fs::file_type::regular ? "a file" : non_regular_kind(st)) +
                                     ", not a folder");
      }
      std::vector<std::string> foreign = scan_folder(t.flag, t.dir, top_files, top_dirs);
      for (const std::string& sub : top_dirs) {
        if (!fs::is_directory(t.dir / sub, ec)) continue;
        std::set<std::string> own;
        for (const DirFile& f : t.files) {
          if (f.name.rfind(sub + "/", 0) == 0) own.insert(f.name.substr(sub.size() + 1));
        }
        for (const std::string& n : scan_folder(t.flag, t.dir / sub, own, {}))
          foreign.push_back(sub + "/" + n);
      }
      if (!foreign.empty() && !t.force) {
        std::string names;
        for (size_t i = 0; i < foreign.size() && i < 5; ++i) names += (i ? ", " : "") + foreign[i];
        if (foreign.size() > 5) names += ", ...";
        throw InputError(t.flag,
                         quoted(t.dir) + " holds " + std::to_string(foreign.size()) +
                             (foreign.size() == 1 ? " entry that is" : " entries that are") +
                             " not this output's files (" + names +
                             "); refusing to write beside them. Give an empty or new folder, or --force "
                             "to write only the output's own file names and leave the rest untouched");
      }
    } else {
      // The nearest existing ancestor must be a folder.
      fs::path a = parent_of(t.dir);
      while (!exists_nofollow(a) && a.has_parent_path() && a != a.parent_path()) a = parent_of(a);
      if (exists_nofollow(a) && !fs::is_directory(a, ec)) {
        throw InputError(t.flag, quoted(a) + " is not a folder; cannot create " + quoted(t.dir) + " in it");
      }
    }
  }
}

void OutputSet::commit() {
  check();
  std::vector<fs::path> created;  // folders made here, outermost first
  struct Staged {
    fs::path tmp, final;
    const std::string* flag;
  };
  std::vector<Staged> staged;
  auto cleanup = [&] {
    for (const Staged& s : staged) ::unlink(s.tmp.c_str());
    std::error_code ec;
    for (auto it = created.rbegin(); it != created.rend(); ++it) fs::remove(*it, ec);  // only if empty
  };
  auto make_dir = [&](const std::string& flag, const fs::path& dir) {
    std::vector<fs::path> missing;
    for (fs::path d = dir; !exists_nofollow(d); d = parent_of(d)) {
      missing.push_back(d);
      if (!d.has_parent_path() || d == d.parent_path()) break;
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
      if (::mkdir(it->c_str(), 0755) != 0 && errno != EEXIST) {
        const int err = errno;
        cleanup();
        throw InputError(flag, quoted(*it) + ": cannot create the folder: " + sys_error(err));
      }
      created.push_back(*it);
    }
  };
  const std::string tag = ".mlaps-tmp-" + std::to_string(::getpid());
  auto stage = [&](const std::string& flag, const fs::path& final, const char* data, size_t size) {
    const fs::path tmp = parent_of(final) / fmt::format(".{}{}", final.filename().string(), tag);
    ::unlink(tmp.c_str());  // a leftover of a killed run of this process id
    const int err = write_new_file(tmp, data, size);
    if (err != 0) {
      cleanup();
      throw InputError(flag, quoted(final) + ": cannot write: " + sys_error(err));
    }
    staged.push_back(Staged{tmp, final, &flag});
  };
  for (const Target& t : targets_) {
    if (t.dir.empty()) {
      stage(t.flag, t.path, t.blob.bytes(), t.blob.size);
      continue;
    }
    make_dir(t.flag, t.dir);
    for (const DirFile& f : t.files) {
      const fs::path final = t.dir / f.name;
      make_dir(t.flag, parent_of(final));
      stage(t.flag, final, f.blob.bytes(), f.blob.size);
    }
  }
  for (size_t i = 0; i < staged.size(); ++i) {
    if (::rename(staged[i].tmp.c_str(), staged[i].final.c_str()) != 0) {
      const int err = errno;
      for (size_t j = i; j < staged.size(); ++j) ::unlink(staged[j].tmp.c_str());
      throw InputError(*staged[i].flag, quoted(staged[i].final) +
                                            ": cannot move the finished file into place: " + sys_error(err));
    }
  }
}

void write_output_file(const std::string& flag, const fs::path& path, std::string bytes) {
  OutputSet out;
  out.add_file(flag, path, Blob::copy(std::move(bytes)));
  out.commit();
}

}  // namespace mlaps

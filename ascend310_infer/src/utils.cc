/* File helpers of the offline inference app (see inc/utils.h). */
#include "inc/utils.h"

#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

std::vector<std::string> ListBinFiles(const std::string &folder) {
  std::vector<std::string> files;
  DIR *dir = opendir(folder.c_str());
  if (dir == nullptr) {
    return files;
  }
  const std::string suffix = ".bin";
  for (dirent *entry = readdir(dir); entry != nullptr; entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      files.push_back(folder + "/" + name);
    }
  }
  closedir(dir);
  std::sort(files.begin(), files.end());
  return files;
}

bool ReadBytes(const std::string &path, std::vector<char> *bytes) {
  std::ifstream stream(path, std::ios::binary | std::ios::ate);
  if (!stream) {
    return false;
  }
  std::streamsize size = stream.tellg();
  stream.seekg(0, std::ios::beg);
  bytes->resize(static_cast<size_t>(size));
  return static_cast<bool>(stream.read(bytes->data(), size));
}

std::string Stem(const std::string &path) {
  size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  size_t dot = name.find_last_of('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

bool WriteOutputs(const std::string &input_path, const std::string &result_dir,
                  const std::vector<mindspore::MSTensor> &outputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    std::string target = result_dir + "/" + Stem(input_path) + "_" + std::to_string(i) + ".bin";
    std::string partial = target + ".tmp";
    std::shared_ptr<const void> data = outputs[i].Data();
    std::ofstream stream(partial, std::ios::binary | std::ios::trunc);
    if (!stream || data == nullptr ||
        !stream.write(static_cast<const char *>(data.get()),
                      static_cast<std::streamsize>(outputs[i].DataSize()))) {
      return false;
    }
    stream.close();
    if (std::rename(partial.c_str(), target.c_str()) != 0) {
      return false;
    }
  }
  return true;
}

#pragma once
// Registers the Python frame capture with the core (see ir/source.h). Frames in files under `dirs`
// are library code: a node's site is the innermost frame outside them.
#include <string>
#include <vector>

#include "ir/source.h"

namespace lazyplus {

void InstallPythonSourceCapture(std::vector<std::string> dirs);

}  // namespace lazyplus

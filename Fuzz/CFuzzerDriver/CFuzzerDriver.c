// Declarations only (see include/CFuzzerDriver.h); libFuzzer provides LLVMFuzzerRunDriver.
#include "CFuzzerDriver.h"

# FindTCC — libtcc from Debian's libtcc-dev (static libtcc.a, no pkg-config file).
# Defines TCC::tcc and TCC_LIBTCC1 (libtcc1.a from the `tcc` package, the runtime helpers).
find_path(TCC_INCLUDE_DIR libtcc.h)
find_library(TCC_LIBRARY NAMES libtcc.a tcc)
find_file(TCC_LIBTCC1 libtcc1.a PATHS /usr/lib/x86_64-linux-gnu/tcc /usr/lib/tcc /usr/local/lib/tcc
          NO_DEFAULT_PATH)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(TCC REQUIRED_VARS TCC_LIBRARY TCC_INCLUDE_DIR)
if(TCC_FOUND AND NOT TARGET TCC::tcc)
  add_library(TCC::tcc UNKNOWN IMPORTED)
  set_target_properties(TCC::tcc PROPERTIES IMPORTED_LOCATION "${TCC_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${TCC_INCLUDE_DIR}"
                        INTERFACE_LINK_LIBRARIES "dl;m")
endif()

# embed_header.cmake — writes discover_objective.h as a C string (sbx_header_text) so the
# worker prepends exactly the header candidates are documented against.
# Usage: cmake -DIN=header.h -DOUT=out.c -P embed_header.cmake
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUT}" "/* generated from discover_objective.h by embed_header.cmake; do not edit */\n"
     "const char sbx_header_text[] = {${bytes} 0x00};\n")

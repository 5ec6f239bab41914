# embed_text.cmake — writes a text file as a NUL-terminated C array, so a program can write
# it out where it is not installed (discover export --format pytorch embeds its Python and
# the objective header this way).
# Usage: cmake -DIN=file -DOUT=out.c -DNAME=c_identifier -P embed_text.cmake
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
get_filename_component(base "${IN}" NAME)
file(WRITE "${OUT}" "/* generated from ${base} by embed_text.cmake; do not edit */\n"
     "const char ${NAME}[] = {${bytes} 0x00};\n")

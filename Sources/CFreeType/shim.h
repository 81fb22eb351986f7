// FreeType 2 (Debian libfreetype-dev), for drawing keypoint names on label sheets.
#include <ft2build.h>
#include FT_FREETYPE_H

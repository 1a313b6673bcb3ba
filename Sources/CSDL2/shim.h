// SDL2 for Swift. Function-like macros do not import, so the few we need are re-exported as constants.
#include <SDL2/SDL.h>
static const int CSDL_WINDOWPOS_CENTERED = SDL_WINDOWPOS_CENTERED;
static const int CSDL_WINDOWPOS_UNDEFINED = SDL_WINDOWPOS_UNDEFINED;

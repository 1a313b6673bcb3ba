print("fbdefio-emu")

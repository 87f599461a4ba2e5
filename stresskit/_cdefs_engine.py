ENGINE_CDEF = ""  # filled by the engine: declarations of native/include/sk_engine.h

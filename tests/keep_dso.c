/* Linked into every executable of a FERRY_SANITIZE build (never into a
 * release).  Open MPI unloads its plugins in MPI_Finalize, before
 * LeakSanitizer looks, so the stacks of their one-time allocations end in
 * "<unknown module>" and no suppression in tests/lsan.supp can name them;
 * unwinding with DWARF instead costs ~14 s per process.  Keeping every
 * shared object loaded (the process ends right after) lets the fast
 * unwinder name the plugin. */
#include <dlfcn.h>

int dlclose(void *handle)
{
    (void)handle;
    return 0;
}

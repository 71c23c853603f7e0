/// jemalloc instead of glibc's malloc, with one arena: articles are built on pool threads
/// and freed on the writer thread, and glibc's per-thread arenas kept that memory. Measured on
/// the benchmark's cold ingest (200 × 50 articles): glibc 5.1 s and 52 MiB peak, jemalloc with
/// one arena 4.1 s and 48 MiB (README, performance). It also serves C's `malloc` (the
/// `unprefixed_malloc_on_supported_platforms` feature), so SQLite's memory comes from the same
/// arena: four searches of 19,000 index terms through the API left glibc's arenas at 200 MiB
/// for good; in jemalloc they peak at 96 MiB and go back to 25 MiB.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's compiled-in options, read through the C global `const char *malloc_conf`
/// (`MALLOC_CONF` in the environment still overrides them). `tcache_max:1024`: each
/// thread keeps freed blocks of up to 1 KiB for reuse instead of up to 32 KiB; on the cold
/// ingest, five runs each: peak RSS 44.2 → 41.5 MiB (medians) for about 2 % more CPU.
/// Without thread caches at all it was 41.0 MiB and 11 % more CPU. `background_thread`: a
/// thread of jemalloc's returns freed pages to the system after their decay time (10 s), also
/// while the daemon is otherwise idle (a large search's memory stayed resident before).
#[unsafe(export_name = "malloc_conf")]
pub static MALLOC_CONF: MallocConf = MallocConf(c"narenas:1,tcache_max:1024,background_thread:true".as_ptr());

#[repr(transparent)]
pub struct MallocConf(*const std::ffi::c_char);

// SAFETY: the pointer is to a static C string that nothing writes.
unsafe impl Sync for MallocConf {}

fn main() -> std::process::ExitCode {
    kabar::cli::main()
}

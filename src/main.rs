/// jemalloc instead of glibc's malloc, with one arena: articles are built on pool threads
/// and freed on the writer thread, and glibc's per-thread arenas kept that memory. Measured on
/// the benchmark's cold ingest (200 × 50 articles): glibc 5.1 s and 52 MiB peak, jemalloc with
/// one arena 4.1 s and 48 MiB (README, performance). It also serves C's `malloc` (the
/// `unprefixed_malloc_on_supported_platforms` feature), so SQLite's memory comes from the same
/// arena: four searches of 19,000 index terms through the API left glibc's arenas at 200 MiB
/// for good; in jemalloc they peak at 101 MiB and go back to 24 MiB.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's compiled-in options, read through the C global `const char *malloc_conf`
/// (`MALLOC_CONF` in the environment still overrides them). `tcache_max:1024`: each
/// thread keeps freed blocks of up to 1 KiB for reuse instead of up to 32 KiB; on the cold
/// ingest, five runs each: peak RSS 44.2 → 41.5 MiB (medians) for about 2 % more CPU.
/// Without thread caches at all it was 41.0 MiB and 11 % more CPU. Freed pages go back to the
/// system after jemalloc's decay time (10 s): four 19,000-term searches' 101 MiB were down to
/// 24 MiB 15 s later in a daemon with nothing else to do. A background purging thread
/// (`background_thread:true`) returned them no sooner and raised the hostile-feed test's peak
/// from 80 to 118 MiB (it purges later than the allocating threads would).
#[unsafe(export_name = "malloc_conf")]
pub static MALLOC_CONF: MallocConf = MallocConf(c"narenas:1,tcache_max:1024".as_ptr());

#[repr(transparent)]
pub struct MallocConf(*const std::ffi::c_char);

// SAFETY: the pointer is to a static C string that nothing writes.
unsafe impl Sync for MallocConf {}

fn main() -> std::process::ExitCode {
    kabar::cli::main()
}

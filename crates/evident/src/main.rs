// mimalloc returns freed memory to the system soon after a peak (indexing a large
// repository, a burst of reports), where glibc's allocator keeps it: the server's resident
// size then reflects what it holds, not the largest thing it once did.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(evident::main_with_args(std::env::args_os()));
}

//! The action kernels allocate nothing once their workspace has seen a path of the same length
//! (house rule: hot loops allocate nothing), for the batched constant-noise kernels (faer
//! products, linear drift; row-by-row defaults, Maier–Stein) and the per-segment kernels
//! (state-dependent noise). Counted with a global allocator; one test only, so no other thread
//! of this binary allocates meanwhile.

use quasipot::action::{geometric_action, time_action, ActionWorkspace};
use quasipot::problem::{BuildOptions, Diffusion, ModelVisitor, Problem, VectorField};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations during 3 geometric and 3 time-action evaluations (with gradients) after a
/// warm-up call of each.
struct Count(Vec<f64>);
impl ModelVisitor for Count {
    type Output = usize;
    fn visit<B: VectorField, N: Diffusion>(self, b: &B, n: &N) -> usize {
        let mut ws = ActionWorkspace::new(n);
        let mut g = vec![0.0; self.0.len()];
        geometric_action(b, n, &self.0, &mut ws, Some(&mut g)).unwrap();
        time_action(b, n, &self.0, 0.1, &mut ws, Some(&mut g)).unwrap();
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        for _ in 0..3 {
            geometric_action(b, n, &self.0, &mut ws, Some(&mut g)).unwrap();
            time_action(b, n, &self.0, 0.1, &mut ws, Some(&mut g)).unwrap();
        }
        ALLOCATIONS.load(Ordering::SeqCst) - before
    }
}

fn path(start: &[f64], d: usize, n: usize) -> Vec<f64> {
    let mut x = Vec::with_capacity(n * d);
    for i in 0..n {
        let t = i as f64 / (n - 1) as f64;
        x.extend((0..d).map(|k| start[k] + t * 0.4 * ((k + 1) as f64).cos()));
    }
    x
}

#[test]
fn action_kernels_allocate_nothing() {
    // The counter sees allocations at all.
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let v = std::hint::black_box(vec![1.0f64; 10]);
    assert!(ALLOCATIONS.load(Ordering::SeqCst) > before && v.len() == 10);
    let d = 100;
    let mut r = common::rng(5);
    let h = common::random_spd(&mut r, d, 0.5, 2.0);
    let c = common::random_spd(&mut r, d, 0.3, 1.5);
    let text = format!(
        "minimum = {:?}\n[drift]\nhessian = {}\n[noise]\nsource = \"matrix\"\nmatrix = {}\n[domain]\nkind = \"ball\"\nradius = 1.0\n",
        vec![0.0; d],
        common::toml_matrix(&h),
        common::toml_matrix(&c)
    );
    let linear = common::problem_from_toml(&text, &BuildOptions::default());
    let ms = Problem::load("maier-stein", &BuildOptions::default()).unwrap();
    let variable = Problem::load("manufactured-anisotropic", &BuildOptions::default()).unwrap();
    assert!(!variable.noise.is_constant());
    for (name, p) in [
        ("linear d = 100", &linear),
        ("maier-stein", &ms),
        ("manufactured", &variable),
    ] {
        let nodes = path(&p.minimum, p.dim(), 33);
        let count = p.visit(Count(nodes));
        assert_eq!(count, 0, "{name}: {count} allocations in 6 evaluations");
    }
}

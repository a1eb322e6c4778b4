/*
 * nbody.c -- floating-point workload.
 *
 * This file implements the n-body simulation of the Jovian planets: Euler
 * steps of pairwise gravitational attraction in double precision, with a
 * square root and a division per pair. Only basic IEEE-754 operations are
 * used, each exactly rounded, so every engine must reach the same bits.
 */
#include "bench.h"

BENCH_SEED(7000000);

#define PI 3.141592653589793
#define SOLAR_MASS (4 * PI * PI)
#define DAYS_PER_YEAR 365.24
#define NBODIES 5

typedef struct body {
  double x, y, z;    /* position (AU) */
  double vx, vy, vz; /* velocity (AU per year) */
  double mass;       /* in solar masses times 4 pi^2 */
} body;

static body bodies[NBODIES];

static void init(void) {
  static const double init_state[NBODIES][7] = {
      {0, 0, 0, 0, 0, 0, 1},
      {4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
       1.66007664274403694e-03, 7.69901118419740425e-03, -6.90460016972063023e-05,
       9.54791938424326609e-04},
      {8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
       -2.76742510726862411e-03, 4.99852801234917238e-03, 2.30417297573763929e-05,
       2.85885980666130812e-04},
      {1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
       2.96460137564761618e-03, 2.37847173959480950e-03, -2.96589568540237556e-05,
       4.36624404335156298e-05},
      {1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
       2.68067772490389322e-03, 1.62824170038242295e-03, -9.51592254519715870e-05,
       5.15138902046611451e-05}};
  double px = 0, py = 0, pz = 0;
  for (int i = 0; i < NBODIES; i++) {
    body *b = &bodies[i];
    b->x = init_state[i][0];
    b->y = init_state[i][1];
    b->z = init_state[i][2];
    b->vx = init_state[i][3] * DAYS_PER_YEAR;
    b->vy = init_state[i][4] * DAYS_PER_YEAR;
    b->vz = init_state[i][5] * DAYS_PER_YEAR;
    b->mass = init_state[i][6] * SOLAR_MASS;
    px += b->vx * b->mass;
    py += b->vy * b->mass;
    pz += b->vz * b->mass;
  }
  /* Give the sun the momentum that makes the system's total zero. */
  bodies[0].vx = -px / SOLAR_MASS;
  bodies[0].vy = -py / SOLAR_MASS;
  bodies[0].vz = -pz / SOLAR_MASS;
}

static void advance(double dt) {
  for (int i = 0; i < NBODIES; i++) {
    body *a = &bodies[i];
    for (int j = i + 1; j < NBODIES; j++) {
      body *b = &bodies[j];
      double dx = a->x - b->x, dy = a->y - b->y, dz = a->z - b->z;
      double d2 = dx * dx + dy * dy + dz * dz;
      double mag = dt / (d2 * __builtin_sqrt(d2));
      a->vx -= dx * b->mass * mag;
      a->vy -= dy * b->mass * mag;
      a->vz -= dz * b->mass * mag;
      b->vx += dx * a->mass * mag;
      b->vy += dy * a->mass * mag;
      b->vz += dz * a->mass * mag;
    }
  }
  for (int i = 0; i < NBODIES; i++) {
    body *b = &bodies[i];
    b->x += dt * b->vx;
    b->y += dt * b->vy;
    b->z += dt * b->vz;
  }
}

static double energy(void) {
  double e = 0;
  for (int i = 0; i < NBODIES; i++) {
    body *a = &bodies[i];
    e += 0.5 * a->mass * (a->vx * a->vx + a->vy * a->vy + a->vz * a->vz);
    for (int j = i + 1; j < NBODIES; j++) {
      body *b = &bodies[j];
      double dx = a->x - b->x, dy = a->y - b->y, dz = a->z - b->z;
      e -= a->mass * b->mass / __builtin_sqrt(dx * dx + dy * dy + dz * dz);
    }
  }
  return e;
}

/* The exact bits of a double, so the checksum sees every rounding. */
static uint64_t bits(double d) {
  union { double d; uint64_t u; } c = {d};
  return c.u;
}

BENCH_ENTRY {
  init();
  uint64_t acc = bits(energy());
  uint32_t steps = (uint32_t)bench_seed();
  for (uint32_t i = 0; i < steps; i++) advance(0.01);
  acc = bench_mix(acc, bits(energy()));
  for (int i = 0; i < NBODIES; i++) acc = bench_mix(acc, bits(bodies[i].x));
  return bench_result(acc);
}

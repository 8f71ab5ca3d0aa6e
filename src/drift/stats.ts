/**
 * The statistics behind drift, agreeing with SciPy 1.10 to 1e-9 (checked against committed fixtures made by
 * scripts/fixtures/drift_reference.py). Pure functions of small summaries: the SQL in summarize.ts reduces
 * millions of rows to an ECDF difference, a distance or a table of counts, and everything here works from
 * those.
 *
 * Where SciPy chooses between algorithms (the Kolmogorov-Smirnov p-value has six), the same choice is made
 * at the same cut-offs, because the approximations SciPy uses in some regions differ from the exact value
 * by more than 1e-9. Inside one algorithm the arithmetic may differ (log space instead of double-double,
 * another summation order): that moves results by ~1e-13, not by the tolerance.
 */

const EPS = 2 ** -52;
const LOG_2PI = Math.log(2 * Math.PI);
const TWO_128 = 2 ** 128;
const TWO_M128 = 2 ** -128;

const clip01 = (p: number) => Math.min(1, Math.max(0, p));

/** numpy.round: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** x * 2^e without the overflow of forming 2^e first (math.ldexp). */
function ldexp(x: number, e: number): number {
  while (e > 1000) {
    x *= 2 ** 1000;
    e -= 1000;
  }
  while (e < -1000) {
    x *= 2 ** -1000;
    e += 1000;
  }
  return x * 2 ** e;
}

// ------------------------------------------------------------------------------------------------ KS

export type KsMode = 'auto' | 'exact' | 'asymp';

export interface KsResult {
  /** In exact mode SciPy snaps D to the lattice h / lcm(n1, n2); so does this. */
  statistic: number;
  pValue: number;
  /** What actually ran: 'auto' picks exact up to 10,000 values a side; exact falls back on overflow. */
  method: 'exact' | 'asymp';
}

const MAX_AUTO_N = 10000;
const INT32_MAX = 2147483647;

/**
 * Two-sided two-sample Kolmogorov-Smirnov p-value from D = max |F1 - F2| and the sample sizes, as
 * scipy.stats.ks_2samp(method=mode). Ties need nothing here: they are already in D, which SciPy (and
 * summarize.ts) evaluates on the ECDFs at every distinct value.
 */
export function ksTwoSample(d: number, n1: number, n2: number, mode: KsMode = 'auto'): KsResult {
  if (!(Number.isInteger(n1) && Number.isInteger(n2) && n1 > 0 && n2 > 0)) {
    throw new RangeError(`sample sizes must be positive integers (got ${n1} and ${n2})`);
  }
  if (!(d >= 0 && d <= 1)) throw new RangeError(`D must be between 0 and 1 (got ${d})`);
  const g = gcd(n1, n2);
  let exact = mode === 'auto' ? Math.max(n1, n2) <= MAX_AUTO_N : mode === 'exact';
  // SciPy only guards the lattice size when exact was asked for explicitly.
  if (mode === 'exact' && n1 / g >= INT32_MAX / (n2 / g)) exact = false;
  if (exact) {
    const lcm = (n1 / g) * n2;
    const h = roundHalfEven(d * lcm);
    d = h / lcm;
    if (h === 0) return { statistic: d, pValue: 1, method: 'exact' };
    const p = n1 === n2 ? probOutsideSquare(n1, h) : outerProbInsideMethod(n1, n2, g, h);
    if (p >= 0 && p <= 1) return { statistic: d, pValue: p, method: 'exact' };
  }
  const [m, n] = n1 >= n2 ? [n1, n2] : [n2, n1];
  const en = (m * n) / (m + n);
  return { statistic: d, pValue: clip01(kolmogorovSf(roundHalfEven(en), d)), method: 'asymp' };
}

/** P(D_{n,n} >= h/n): the alternating sum of binomial ratios evaluated Horner-style (SciPy's helper). */
function probOutsideSquare(n: number, h: number): number {
  let p = 0;
  for (let k = Math.floor(n / h); k >= 0; k--) {
    let p1 = 1;
    for (let j = 0; j < h; j++) p1 = ((n - k * h - j) * p1) / (n + k * h + j + 1);
    p = p1 * (1 - p);
  }
  return 2 * p;
}

/**
 * 1 - (share of lattice paths from (0,0) to (m,n) staying strictly inside |x/m - y/n| < h/lcm), by the
 * recursion that carries 1 - p directly (Viehmann 2021), column by column over a sliding window.
 */
function outerProbInsideMethod(m: number, n: number, g: number, h: number): number {
  if (m < n) [m, n] = [n, m];
  const mg = m / g;
  const ng = n / g;
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const a = new Float64Array(Math.min(2 * maxj + 2, n + 1)).fill(1);
  a.fill(0, minj, maxj);
  for (let i = 1; i <= m; i++) {
    const lastminj = minj;
    const lastlen = curlen;
    minj = Math.min(Math.max(Math.floor((ng * i - h) / mg) + 1, 0), n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1;
    let val = minj === 0 ? 0 : 1;
    for (let jj = 0; jj < maxj - minj; jj++) {
      const j = jj + minj;
      val = (a[jj + minj - lastminj] * i + val * j) / (i + j);
      a[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) a.fill(1, maxj - minj, maxj - minj + (lastlen - curlen));
  }
  return a[maxj - minj - 1];
}

/**
 * P(D_n >= x) for the one-sample two-sided statistic: scipy.stats.kstwo.sf(x, n), which ks_2samp's
 * asymptotic mode evaluates at n = round(n1 n2 / (n1 + n2)). Simard & L'Ecuyer's choice of algorithm.
 */
export function kolmogorovSf(n: number, x: number): number {
  // rv_continuous.sf: at or below the support's lower end (1/2n) the answer is 1, at or above 1 it is 0.
  if (x <= 0.5 / n) return 1;
  if (x >= 1) return 0;
  const t = n * x;
  if (t <= 1) {
    // Ruben-Gambino: P(D_n <= x) = n!/n^n (2t - 1)^n on 1/2n < x <= 1/n.
    let cdf: number;
    if (n <= 140) {
      cdf = 1;
      for (let i = 1; i <= n; i++) cdf *= i * (1 / n) * (2 * t - 1);
    } else {
      cdf = Math.exp(logFactorialOverPower(n) + n * Math.log(2 * t - 1));
    }
    return clip01(1 - cdf);
  }
  if (t >= n - 1) return clip01(2 * (1 - x) ** n);
  if (x >= 0.5) return clip01(2 * smirnovSf(n, x));
  const nxx = t * x;
  if (n <= 140) {
    if (nxx <= 0.754693) return clip01(1 - clip01(durbinCdf(n, x)));
    if (nxx <= 4) return clip01(1 - clip01(pomeranzCdf(n, x)));
    return clip01(2 * smirnovSf(n, x));
  }
  if (nxx >= 370) return 0;
  if (nxx >= 2.2) return clip01(2 * smirnovSf(n, x));
  const cdf = n <= 100000 && n * x ** 1.5 <= 1.4 ? clip01(durbinCdf(n, x)) : pelzGoodCdf(n, x);
  return clip01(1 - cdf);
}

const STIRLING_COEFFS = [
  -0.029550653594771242, 0.00641025641025641, -0.0019175269175269176, 0.0008417508417508417,
  -0.0005952380952380953, 0.0007936507936507937, -0.002777777777777778, 0.08333333333333333,
];

/** log(n! / n^n) by Stirling's series with n log n taken out up front, so nothing cancels. */
function logFactorialOverPower(n: number): number {
  const rn = 1 / n;
  let poly = 0;
  for (const c of STIRLING_COEFFS) poly = poly * (rn / n) + c;
  return Math.log(n) / 2 - n + LOG_2PI / 2 + rn * poly;
}

/** Row-major m x m product. */
function matmul(a: Float64Array, b: Float64Array, m: number): Float64Array {
  const out = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < m; k++) {
      const aik = a[i * m + k];
      if (aik === 0) continue;
      for (let j = 0; j < m; j++) out[i * m + j] += aik * b[k * m + j];
    }
  }
  return out;
}

/** P(D_n <= d) by Durbin's matrix, raised to the n-th power with rescaling (Marsaglia, Tsang & Wang). */
function durbinCdf(n: number, d: number): number {
  if (d >= 1) return 1;
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;
  const v = new Float64Array(m);
  const w = new Float64Array(m);
  let fac = 1;
  for (let j = 1; j <= m; j++) {
    w[j - 1] = fac;
    fac /= j;
    v[j - 1] = (1 - h ** j) * fac;
  }
  v[m - 1] = (1 + (Math.max(2 * h - 1, 0) ** m - 2 * h ** m)) * fac;
  let hm: Float64Array = new Float64Array(m * m);
  for (let i = 1; i < m; i++) for (let r = i - 1; r < m; r++) hm[r * m + i] = w[r - (i - 1)];
  for (let r = 0; r < m; r++) hm[r * m] = v[r];
  for (let c = 0; c < m; c++) hm[(m - 1) * m + c] = v[m - 1 - c];
  let power: Float64Array = new Float64Array(m * m);
  for (let i = 0; i < m; i++) power[i * m + i] = 1;
  let expnt = 0;
  let hExpnt = 0;
  for (let nn = n; nn > 0; nn = Math.floor(nn / 2)) {
    if (nn % 2) {
      power = matmul(power, hm, m);
      expnt += hExpnt;
    }
    hm = matmul(hm, hm, m);
    hExpnt *= 2;
    if (Math.abs(hm[(k - 1) * m + (k - 1)]) > TWO_128) {
      for (let i = 0; i < hm.length; i++) hm[i] /= TWO_128;
      hExpnt += 128;
    }
  }
  let p = power[(k - 1) * m + (k - 1)];
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < TWO_M128) {
      p *= TWO_128;
      expnt -= 128;
    }
  }
  return expnt !== 0 ? ldexp(p, expnt) : p;
}

/** Which entries of row i of Pomeranz's recursion can be non-zero. */
function pomeranzWindow(i: number, n: number, ll: number, ceilf: number, roundf: number): [number, number] {
  let j1: number;
  let j2: number;
  if (i === 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const half = Math.floor((i + 1) / 2);
    if ((i + 1) % 2 === 0) {
      if (half === n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = half - 1 - ll - roundf - 1;
        j2 = half + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = half - 1 - ll - 1;
      j2 = half + ll + roundf - 1;
    }
  }
  return [Math.max(j1 + 2, 0), Math.min(j2, n)];
}

/** P(D_n <= x) by Pomeranz's recursion: each row is the previous one convolved with Poisson-like weights. */
function pomeranzCdf(n: number, x: number): number {
  const t = n * x;
  const ll = Math.floor(t);
  const f = t - ll;
  const g = Math.min(f, 1 - f);
  const ceilf = f > 0 ? 1 : 0;
  const roundf = f > 0.5 ? 1 : 0;
  const npwrs = 2 * (ll + 1);
  const gpower = new Float64Array(npwrs);
  const twogpower = new Float64Array(npwrs);
  const onem2gpower = new Float64Array(npwrs);
  gpower[0] = twogpower[0] = onem2gpower[0] = 1;
  const [gOverN, twoGOverN, oneMinusTwoGOverN] = [g / n, (2 * g) / n, (1 - 2 * g) / n];
  for (let m = 1; m < npwrs; m++) {
    gpower[m] = (gpower[m - 1] * gOverN) / m;
    twogpower[m] = (twogpower[m - 1] * twoGOverN) / m;
    onem2gpower[m] = (onem2gpower[m - 1] * oneMinusTwoGOverN) / m;
  }
  let v0 = new Float64Array(npwrs);
  let v1 = new Float64Array(npwrs);
  v1[0] = 1;
  let [v0s, v1s] = [0, 0];
  let expnt = 0;
  let [j1, j2] = pomeranzWindow(0, n, ll, ceilf, roundf);
  for (let i = 1; i < 2 * n + 2; i++) {
    const k1 = j1;
    [v0, v1] = [v1, v0];
    [v0s, v1s] = [v1s, v0s];
    v1.fill(0);
    [j1, j2] = pomeranzWindow(i, n, ll, ceilf, roundf);
    const pwrs = i === 1 || i === 2 * n + 1 ? gpower : i % 2 ? twogpower : onem2gpower;
    const ln2 = j2 - k1 + 1;
    if (ln2 <= 0) continue;
    // numpy slices stop at the end of the array; the convolution is the full one.
    const a = v0.subarray(k1 - v0s, Math.min(k1 - v0s + ln2, npwrs));
    const b = pwrs.subarray(0, Math.min(ln2, npwrs));
    const convStart = j1 - k1;
    const convLen = j2 - j1 + 1;
    let max = 0;
    for (let c = 0; c < convLen; c++) {
      const at = convStart + c;
      let s = 0;
      for (let p = Math.max(0, at - b.length + 1); p <= Math.min(at, a.length - 1); p++)
        s += a[p] * b[at - p];
      v1[c] = s;
      if (s > max) max = s;
    }
    if (max > 0 && max < TWO_M128) {
      for (let c = 0; c < npwrs; c++) v1[c] *= TWO_128;
      expnt -= 128;
    }
    v1s = v0s + j1 - k1;
  }
  let ans = v1[n - v1s];
  for (let m = 1; m <= n; m++) {
    if (Math.abs(ans) > TWO_128) {
      ans *= TWO_M128;
      expnt += 128;
    }
    ans *= m;
  }
  return clip01(expnt !== 0 ? ldexp(ans, expnt) : ans);
}

const PI2 = Math.PI ** 2;
const PI4 = Math.PI ** 4;
const PI6 = Math.PI ** 6;
const SQRT2PI = Math.sqrt(2 * Math.PI);

/**
 * Pelz-Good approximation of P(D_n <= x): the Li-Chien/Korolyuk expansion in 1/sqrt(n), transformed with
 * Jacobi theta functions for small z = x sqrt(n). An approximation: SciPy uses it, so must we.
 */
function pelzGoodCdf(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const z = Math.sqrt(n) * x;
  const [z2, z3, z4, z6] = [z ** 2, z ** 3, z ** 4, z ** 6];
  const qlog = -PI2 / 8 / z2;
  if (qlog < -708) return 0;
  let q = Math.exp(qlog);
  const k1a = -z2;
  const k1b = PI2 / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * PI2) / 4;
  const k2c = (PI4 * (1 - 2 * z2)) / 16;
  const k3d = (PI6 * (5 - 30 * z2)) / 64;
  const k3c = (PI4 * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (PI2 * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * z ** 8;
  const terms = [0, 0, 0, 0];
  const maxk = Math.ceil((16 * z) / Math.PI);
  for (let k = maxk; k > 0; k--) {
    const m = 2 * k - 1;
    const [m2, m4, m6] = [m ** 2, m ** 4, m ** 6];
    const qpower = q ** (8 * k);
    const coeffs = [1, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6];
    for (let i = 0; i < 4; i++) terms[i] = terms[i] * qpower + coeffs[i];
  }
  const divisors = [z, 6 * z4, 72 * z ** 7, 6480 * z ** 10];
  for (let i = 0; i < 4; i++) terms[i] = (terms[i] * q * SQRT2PI) / divisors[i];
  q = Math.exp(-PI2 / 2 / z2);
  const sqrt3z = Math.sqrt(3) * z;
  let k2extra = 0;
  let k3extra = 0;
  for (let k = maxk; k > 0; k--) {
    const qpower = q ** (k * k);
    k2extra += k * k * qpower;
    k3extra += (sqrt3z + Math.PI * k) * (sqrt3z - Math.PI * k) * k * k * qpower;
  }
  terms[2] += (k2extra * PI2 * SQRT2PI) / (-36 * z3);
  terms[3] += (k3extra * PI2 * SQRT2PI) / (216 * z6);
  let sum = 0;
  for (let i = 0; i < 4; i++) sum += terms[i] / n ** (i / 2);
  return sum;
}

/** n * x as an exact floor plus fraction (cephes' modNX), since the summation bounds hinge on it. */
function splitNx(n: number, x: number): { floor: number; alpha: number } {
  const hi = n * x;
  // Dekker's two-product: the rounding error of n * x, exactly.
  const split = (a: number) => {
    const c = 134217729 * a;
    const h = c - (c - a);
    return [h, a - h];
  };
  const [nh, nl] = split(n);
  const [xh, xl] = split(x);
  const lo = nh * xh - hi + nh * xl + nl * xh + nl * xl;
  let floor = Math.floor(hi);
  if (floor === hi && lo < 0) floor -= 1;
  let alpha = hi - floor + lo;
  if (alpha >= 1) {
    floor += 1;
    alpha = 0;
  }
  return { floor, alpha };
}

/** Cephes' MINLOG with denormals enabled, as SciPy builds it: log(2^-1075). */
const MINLOG = -745.1332191019412;

/**
 * P(D_n^+ >= x), the one-sided Smirnov statistic: scipy.special.smirnov. Cephes sums the Birnbaum-Tingey
 * series in double-double; the terms are all positive, so summing them in log space in doubles loses only
 * ~1e-13. Cephes' alternating "upper sum" is used only for x <= 0.5/sqrt(n), where kstwo never calls this.
 */
export function smirnovSf(n: number, x: number): number {
  if (!(n > 0 && x >= 0 && x <= 1)) return Number.NaN;
  if (n === 1) return 1 - x;
  if (x === 0) return 1;
  if (x === 1) return 0;
  const { floor: nxfl, alpha } = splitNx(n, x);
  let lastV = n - nxfl - (alpha === 0 ? 0 : 1);
  if (alpha === 0) lastV -= 1;
  if (nxfl === 0 || (nxfl === 1 && alpha === 0)) return 1 - x * Math.exp((n - 1) * Math.log1p(x));
  if (-2 * n * x * x < MINLOG) return 0;
  if (nxfl >= n - 1) return Math.exp(n * Math.log1p(-x));
  if (n > 1000000) {
    // Cephes stops summing here and uses p ~ exp(-(6nx + 1)^2 / 18n).
    const logp = -((6 * n * x + 1) ** 2) / 18 / n;
    return logp < -Math.LN2 ? Math.exp(logp) : 1 + Math.expm1(logp);
  }
  // A_v = C(n, v) (x + v/n)^(v-1) (1 - x - v/n)^(n-v); x + v/n = (nxfl + alpha + v) / n without rounding nx.
  // C(n, v) is carried as mantissa * 2^exponent so that it neither overflows nor loses digits to logs, and
  // the sum as e^scale * sum so that p-values down to the subnormal range survive as they do in cephes.
  let mantissa = 1;
  let exponent = 0;
  let scale = Number.NaN;
  let sum = 0;
  const logN = Math.log(n);
  const nTerms = lastV + 1;
  for (let v = 0; v < nTerms; v++) {
    const up = (nxfl + alpha + v) / n;
    const logUp = Math.log(nxfl + alpha + v) - logN;
    const logDown = up < 0.5 ? Math.log1p(-up) : Math.log((n - v - nxfl - alpha) / n);
    const logA = Math.log(mantissa) + exponent * Math.LN2 + (v - 1) * logUp + (n - v) * logDown;
    if (Number.isNaN(scale)) scale = logA;
    if (logA > scale + 600) {
      sum *= Math.exp(scale - logA);
      scale = logA;
    }
    const a = Math.exp(logA - scale);
    sum += a;
    if (v > 0) {
      if (a !== 0) {
        if (4 * (nTerms - v) * a < EPS * sum && v !== nTerms - 1) break;
      } else if (v > n / 2) break;
    }
    mantissa *= (n - v) / (v + 1);
    if (mantissa > 2 ** 500 || mantissa < 2 ** -500) {
      const e = Math.floor(Math.log2(mantissa));
      mantissa *= 2 ** -e;
      exponent += e;
    }
  }
  return clip01(Math.exp(Math.log(x) + scale + Math.log(sum)));
}

// ------------------------------------------------------------------------------------------------ gamma

const LANCZOS_G = 7;
const LANCZOS = [
  0.9999999999998099, 676.5203681218851, -1259.1392167224028, 771.3234287776531, -176.6150291621406,
  12.507343278686905, -0.13857109526572012, 9.984369578019572e-6, 1.5056327351493116e-7,
];

/** log Gamma(x) for x > 0: Lanczos (g = 7, 9 terms) below 10, Stirling's series above. */
export function logGamma(x: number): number {
  if (!(x > 0)) return Number.NaN;
  if (x >= 10) return (x - 0.5) * Math.log(x) - x + LOG_2PI / 2 + stirlingCorrection(x);
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const y = x - 1;
  let s = LANCZOS[0];
  for (let i = 1; i < LANCZOS.length; i++) s += LANCZOS[i] / (y + i);
  const t = y + LANCZOS_G + 0.5;
  return LOG_2PI / 2 + (y + 0.5) * Math.log(t) - t + Math.log(s);
}

/** log Gamma(x) - Stirling's formula, for x >= 10 (terms up to x^-13: below 1e-17 there). */
export function stirlingCorrection(x: number): number {
  const x2 = x * x;
  return (
    (1 / 12 -
      (1 / 360 - (1 / 1260 - (1 / 1680 - (1 / 1188 - (691 / 360360 - 1 / (156 * x2)) / x2) / x2) / x2) / x2) /
        x2) /
    x
  );
}

/** log(x^a e^-x / Gamma(a)), the prefactor of both incomplete gamma functions, without cancelling large terms. */
function logGammaPrefactor(a: number, x: number): number {
  if (a < 10) return a * Math.log(x) - x - logGamma(a);
  // a log x - x - log Gamma(a) = a log(x/a) - (x - a) + log(a)/2 - log(2 pi)/2 - correction(a).
  const d = x - a;
  const logRatio = Math.abs(d) < 0.5 * a ? Math.log1p(d / a) : Math.log(x / a);
  return a * logRatio - d + Math.log(a) / 2 - LOG_2PI / 2 - stirlingCorrection(a);
}

const MAX_ITERATIONS = 100000;

/** Regularized upper incomplete gamma Q(a, x) = Gamma(a, x) / Gamma(a) (scipy.special.gammaincc). */
export function gammaQ(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) return Number.NaN;
  if (x === 0) return 1;
  if (!Number.isFinite(x)) return 0;
  if (x < a + 1) {
    // Series for P(a, x); Q = 1 - P loses nothing here because P < ~0.6.
    let term = 1 / a;
    let sum = term;
    for (let k = 1; k < MAX_ITERATIONS; k++) {
      term *= x / (a + k);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * EPS) break;
    }
    return 1 - sum * Math.exp(logGammaPrefactor(a, x));
  }
  // Continued fraction for Q(a, x) by the modified Lentz method.
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < MAX_ITERATIONS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPS) break;
  }
  return Math.exp(logGammaPrefactor(a, x)) * h;
}

/** Survival function of the chi-squared distribution (scipy.stats.chi2.sf). */
export function chi2Sf(x: number, dof: number): number {
  if (x <= 0) return 1;
  return gammaQ(dof / 2, x / 2);
}

/** Two-sided p-value of a standard normal statistic: 2 * scipy.stats.norm.sf(|z|) = erfc(|z| / sqrt 2). */
export function normalTwoSided(z: number): number {
  return gammaQ(0.5, (z * z) / 2);
}

// ------------------------------------------------------------------------------------------------ tests on counts

export interface Chi2Result {
  statistic: number;
  pValue: number;
  dof: number;
  /** Columns left out because they are empty in every row (SciPy would refuse the table). */
  dropped: number[];
}

/**
 * scipy.stats.chi2_contingency(table) on an R x K table of counts: expected = row total x column total /
 * grand total, Yates' continuity correction when dof = 1, statistic 0 and p = 1 when dof = 0. A column that
 * is zero in every row has zero expected counts and makes SciPy raise; it carries no information, so it is
 * dropped (and reported) instead. Rows must have positive totals.
 */
export function chi2Contingency(table: number[][], correction = true): Chi2Result {
  const dropped: number[] = [];
  const keep: number[] = [];
  for (let j = 0; j < table[0].length; j++) (table.some((row) => row[j] !== 0) ? keep : dropped).push(j);
  const observed = table.map((row) => keep.map((j) => row[j]));
  const rows = observed.map((row) => row.reduce((s, v) => s + v, 0));
  if (rows.some((r) => !(r > 0))) throw new RangeError('every row of the table needs a positive total');
  const cols = keep.map((_, j) => observed.reduce((s, row) => s + row[j], 0));
  const total = rows.reduce((s, v) => s + v, 0);
  const dof = (observed.length - 1) * (keep.length - 1);
  if (dof === 0) return { statistic: 0, pValue: 1, dof, dropped };
  let statistic = 0;
  observed.forEach((row, i) => {
    row.forEach((o, j) => {
      const e = (rows[i] * cols[j]) / total;
      let diff = Math.abs(e - o);
      if (dof === 1 && correction) diff -= Math.min(0.5, diff);
      statistic += (diff * diff) / e;
    });
  });
  return { statistic, pValue: chi2Sf(statistic, dof), dof, dropped };
}

export interface ZResult {
  z: number;
  pValue: number;
}

/**
 * Pooled two-proportion Z test, two-sided: x1 successes of n1 against x2 of n2 (Evidently's z test; the
 * p-value as 2 * scipy.stats.norm.sf(|z|)). When the pooled proportion is 0 or 1 both samples agree
 * exactly and there is nothing to test: z = 0, p = 1.
 */
export function twoProportionZ(x1: number, n1: number, x2: number, n2: number): ZResult {
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  if (!(se > 0)) return { z: 0, pValue: 1 };
  const z = (p1 - p2) / se;
  return { z, pValue: normalTwoSided(z) };
}

// ------------------------------------------------------------------------------------------------ distances

const sumOf = (values: readonly number[]) => values.reduce((s, v) => s + v, 0);

/** x log(x / y) with SciPy's conventions at 0 (scipy.special.rel_entr). */
function relEntr(x: number, y: number): number {
  if (x > 0 && y > 0) return x * Math.log(x / y);
  if (x === 0 && y >= 0) return 0;
  return Number.POSITIVE_INFINITY;
}

/**
 * scipy.spatial.distance.jensenshannon(p, q, base): counts or proportions, normalised first; natural log
 * unless a base is given; the distance (square root of the divergence). Rounding can leave the divergence
 * a hair below zero for identical inputs, where SciPy returns NaN: this returns 0.
 */
export function jensenShannon(p: readonly number[], q: readonly number[], base?: number): number {
  if (p.length !== q.length) throw new RangeError('p and q must have the same length');
  const sp = sumOf(p);
  const sq = sumOf(q);
  let left = 0;
  let right = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i] / sp;
    const qi = q[i] / sq;
    const m = (pi + qi) / 2;
    left += relEntr(pi, m);
    right += relEntr(qi, m);
  }
  let js = left + right;
  if (base !== undefined) js /= Math.log(base);
  return Math.sqrt(Math.max(0, js / 2));
}

/** Proportion given to an empty bin by psi(), so that ln(a / e) stays finite (the common choice, 0.01%). */
export const PSI_EPSILON = 1e-4;

/**
 * Population stability index, sum((a - e) ln(a / e)) over bins, a = data (actual) and e = reference
 * (expected) proportions; a bin empty on one side counts as PSI_EPSILON there.
 */
export function psi(actual: readonly number[], expected: readonly number[], epsilon = PSI_EPSILON): number {
  if (actual.length !== expected.length)
    throw new RangeError('actual and expected must have the same length');
  const sa = sumOf(actual);
  const se = sumOf(expected);
  let total = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] / sa || epsilon;
    const e = expected[i] / se || epsilon;
    total += (a - e) * Math.log(a / e);
  }
  return total;
}

/** Evidently's floor under the reference's standard deviation, so that a constant reference does not divide by 0. */
export const MIN_REFERENCE_STD = 0.001;

/** Wasserstein-1 distance in units of the reference's (population) standard deviation, as Evidently's. */
export function normalisedWasserstein(distance: number, referenceStd: number): number {
  return distance / Math.max(referenceStd, MIN_REFERENCE_STD);
}

// ------------------------------------------------------------------------------------------------ corrections

export type Correction = 'bh' | 'bonferroni' | 'none';

/**
 * Multiple-testing adjusted p-values, in input order: Benjamini-Hochberg as
 * scipy.stats.false_discovery_control(method='bh') (= statsmodels fdr_bh), Bonferroni, or none.
 */
export function adjustPValues(pValues: readonly number[], method: Correction): number[] {
  const m = pValues.length;
  if (method === 'none') return [...pValues];
  if (method === 'bonferroni') return pValues.map((p) => Math.min(1, p * m));
  const order = pValues.map((_, i) => i).sort((a, b) => pValues[a] - pValues[b]);
  const adjusted = new Array<number>(m);
  let running = Number.POSITIVE_INFINITY;
  for (let r = m - 1; r >= 0; r--) {
    running = Math.min(running, pValues[order[r]] * (m / (r + 1)));
    adjusted[order[r]] = clip01(running);
  }
  return adjusted;
}

// The safetensors dtypes we read and write, and exact float16/bfloat16 <-> float32 conversion
// (round to nearest, ties to even; NaN payloads kept where they fit; subnormals handled).
export const DTYPE_SIZES = { F32: 4, F16: 2, BF16: 2, U8: 1, BOOL: 1, I32: 4, I64: 8 } as const;
export type Dtype = keyof typeof DTYPE_SIZES;
export const DTYPES = Object.keys(DTYPE_SIZES) as Dtype[];

export function isDtype(s: unknown): s is Dtype {
  return typeof s === "string" && Object.prototype.hasOwnProperty.call(DTYPE_SIZES, s);
}

// Conversions work on bit patterns (Uint32 views), never through JS numbers, so NaN payloads survive.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32BitsToBf16Bits(u: number): number {
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x007fffff) !== 0) {
    const hi = u >>> 16;
    return (hi & 0x7f) === 0 ? hi | 0x40 : hi; // keep the payload; a NaN must not truncate into Inf
  }
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f32BitsToF16Bits(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) {
    if (mant === 0) return sign | 0x7c00;
    const m = mant >>> 13;
    return sign | 0x7c00 | (m === 0 ? 0x200 : m);
  }
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → Inf
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal → ±0
    const m = mant | 0x800000; // implicit bit
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = m & ((1 << shift) - 1);
    let r = m >>> shift;
    if (rest > half || (rest === half && (r & 1) === 1)) r++;
    return sign | r; // r may carry into the smallest normal, which is the right encoding
  }
  let r = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1) === 1)) r++; // carry may reach Inf, correctly
  return sign | r;
}

export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp === 0) {
    if (mant === 0) return sign >>> 0;
    let e = 127 - 15 + 1;
    while ((mant & 0x400) === 0) {
      mant <<= 1;
      e--;
    }
    return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
  }
  return (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
}

export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  return f32BitsToBf16Bits(u32[0]);
}

export function bf16BitsToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  return f32BitsToF16Bits(u32[0]);
}

export function f16BitsToF32(h: number): number {
  u32[0] = f16BitsToF32Bits(h);
  return f32[0];
}

/** Raw little-endian bytes of `dtype` → float32 values (F32, F16, BF16, and the integer types as numbers). */
export function bytesToFloat32(bytes: Uint8Array, dtype: Dtype): Float32Array {
  const n = bytes.byteLength / DTYPE_SIZES[dtype];
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  const buf = aligned.buffer;
  const off = aligned.byteOffset;
  switch (dtype) {
    case "F32":
      // a view, not a copy: readers hand over freshly read buffers, so the tensor costs its size once
      return new Float32Array(buf, off, n);
    case "F16": {
      const src = new Uint16Array(buf, off, n);
      const out32 = new Uint32Array(n);
      for (let i = 0; i < n; i++) out32[i] = f16BitsToF32Bits(src[i]);
      return new Float32Array(out32.buffer);
    }
    case "BF16": {
      const src = new Uint16Array(buf, off, n);
      const out32 = new Uint32Array(n);
      for (let i = 0; i < n; i++) out32[i] = src[i] << 16;
      return new Float32Array(out32.buffer);
    }
    case "U8":
    case "BOOL":
      return Float32Array.from(bytes);
    case "I32":
      return Float32Array.from(new Int32Array(buf, off, n));
    case "I64": {
      const src = new BigInt64Array(buf, off, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = Number(src[i]);
      return out;
    }
  }
}

/** float32 values → raw little-endian bytes of `dtype` (F32, F16, BF16 only). */
export function float32ToBytes(values: Float32Array, dtype: "F32" | "F16" | "BF16"): Uint8Array {
  if (dtype === "F32") return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint16Array(values.length);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const conv = dtype === "F16" ? f32BitsToF16Bits : f32BitsToBf16Bits;
  for (let i = 0; i < values.length; i++) out[i] = conv(bits[i]);
  return new Uint8Array(out.buffer);
}

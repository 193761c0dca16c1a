/**
 * Low-level Arrow `Data` work for the write path, on raw buffers (never Builders, see perf-anchors.md):
 * re-typing a column to the table's canonical Arrow type (field names, nullability, missing struct fields as
 * nulls), taking rows by index (to split a batch by partition), and reading validity bits.
 */
import * as Arrow from "apache-arrow"

/** Whether row `index` (logical, before the data's offset) is valid. */
export const isValid = (data: Arrow.Data, index: number): boolean => {
  if (data.nullCount === 0 || data.nullBitmap === undefined || data.nullBitmap.length === 0) return true
  const bit = data.offset + index
  return ((data.nullBitmap[bit >> 3]! >> (bit & 7)) & 1) === 1
}

const strideOf = (type: Arrow.DataType): number => (Arrow.DataType.isDecimal(type) ? type.bitWidth / 32 : 1)

/** An all-null column of `type` and `length` rows. */
export const nullData = (type: Arrow.DataType, length: number): Arrow.Data => {
  const nullBitmap = new Uint8Array((length + 7) >> 3)
  if (Arrow.DataType.isStruct(type)) {
    return Arrow.makeData({
      type,
      length,
      nullCount: length,
      nullBitmap,
      children: type.children.map((child) => nullData(child.type, length))
    })
  }
  if (Arrow.DataType.isList(type) || Arrow.DataType.isMap(type)) {
    return Arrow.makeData({
      type: type as Arrow.List,
      length,
      nullCount: length,
      nullBitmap,
      valueOffsets: new Int32Array(length + 1),
      child: nullData(type.children[0]!.type, 0)
    })
  }
  if (Arrow.DataType.isUtf8(type) || Arrow.DataType.isBinary(type)) {
    return Arrow.makeData({
      type: type as Arrow.Utf8,
      length,
      nullCount: length,
      nullBitmap,
      valueOffsets: new Int32Array(length + 1),
      data: new Uint8Array(0)
    })
  }
  if (Arrow.DataType.isBool(type)) {
    return Arrow.makeData({ type, length, nullCount: length, nullBitmap, data: new Uint8Array((length + 7) >> 3) })
  }
  const ArrayType = (type as unknown as { ArrayType: new(n: number) => Int32Array }).ArrayType
  return Arrow.makeData({
    type: type as Arrow.Int32,
    length,
    nullCount: length,
    nullBitmap,
    data: new ArrayType(length * strideOf(type)) as Int32Array
  })
}

/**
 * Re-types `data` to `target` (same physical layout, checked by the schema merge beforehand): nested fields get
 * the target's names and nullability, struct fields the data lacks become all-null children.
 */
export const conformData = (data: Arrow.Data, target: Arrow.DataType): Arrow.Data => {
  const base = { offset: data.offset, length: data.length, nullCount: data.nullCount, nullBitmap: data.nullBitmap }
  if (Arrow.DataType.isStruct(target)) {
    const source = data.type as Arrow.Struct
    const children = target.children.map((field) => {
      const index = source.children.findIndex((child) => child.name === field.name)
      const child = index < 0 ? undefined : data.children[index]
      return child === undefined ? nullData(field.type, data.length + data.offset) : conformData(child, field.type)
    })
    return Arrow.makeData({ ...base, type: target, children })
  }
  if (Arrow.DataType.isList(target) || Arrow.DataType.isMap(target)) {
    const child = conformData(data.children[0]!, target.children[0]!.type)
    return Arrow.makeData({ ...base, type: target as Arrow.List, valueOffsets: data.valueOffsets, child })
  }
  if (Arrow.DataType.isUtf8(target) || Arrow.DataType.isBinary(target)) {
    return Arrow.makeData({ ...base, type: target as Arrow.Utf8, valueOffsets: data.valueOffsets, data: data.values })
  }
  return Arrow.makeData({ ...base, type: target as Arrow.Int32, data: data.values as Int32Array })
}

const takeBitmap = (data: Arrow.Data, indices: Int32Array): { bitmap: Uint8Array; nulls: number } => {
  const bitmap = new Uint8Array((indices.length + 7) >> 3)
  let nulls = 0
  for (let i = 0; i < indices.length; i++) {
    if (isValid(data, indices[i]!)) bitmap[i >> 3]! |= 1 << (i & 7)
    else nulls++
  }
  return { bitmap, nulls }
}

/** The rows of `data` at `indices` (logical indices), as new offset-0 data. */
export const takeData = (data: Arrow.Data, indices: Int32Array): Arrow.Data => {
  const type = data.type
  const length = indices.length
  const validity = data.nullCount === 0 ? { bitmap: new Uint8Array(0), nulls: 0 } : takeBitmap(data, indices)
  const base = { length, nullCount: validity.nulls, nullBitmap: validity.bitmap }
  if (Arrow.DataType.isStruct(type)) {
    return Arrow.makeData({ ...base, type, children: data.children.map((child) => takeData(child, indices)) })
  }
  if (Arrow.DataType.isList(type) || Arrow.DataType.isMap(type) || Arrow.DataType.isUtf8(type) ||
    Arrow.DataType.isBinary(type)) {
    const offsets = data.valueOffsets as Int32Array
    const valueOffsets = new Int32Array(length + 1)
    let total = 0
    for (let i = 0; i < length; i++) {
      const row = data.offset + indices[i]!
      total += offsets[row + 1]! - offsets[row]!
      valueOffsets[i + 1] = total
    }
    if (Arrow.DataType.isUtf8(type) || Arrow.DataType.isBinary(type)) {
      const source = data.values as Uint8Array
      const bytes = new Uint8Array(total)
      for (let i = 0; i < length; i++) {
        const row = data.offset + indices[i]!
        bytes.set(source.subarray(offsets[row]!, offsets[row + 1]!), valueOffsets[i]!)
      }
      return Arrow.makeData({ ...base, type: type as Arrow.Utf8, valueOffsets, data: bytes })
    }
    const childIndices = new Int32Array(total)
    let at = 0
    for (let i = 0; i < length; i++) {
      const row = data.offset + indices[i]!
      for (let j = offsets[row]!; j < offsets[row + 1]!; j++) childIndices[at++] = j
    }
    const child = takeData(data.children[0]!, childIndices)
    return Arrow.makeData({ ...base, type: type as Arrow.List, valueOffsets, child })
  }
  if (Arrow.DataType.isBool(type)) {
    const source = data.values as Uint8Array
    const bits = new Uint8Array((length + 7) >> 3)
    for (let i = 0; i < length; i++) {
      const bit = data.offset + indices[i]!
      if ((source[bit >> 3]! >> (bit & 7)) & 1) bits[i >> 3]! |= 1 << (i & 7)
    }
    return Arrow.makeData({ ...base, type, data: bits })
  }
  const stride = strideOf(type)
  const source = data.values as Int32Array
  const values = new (source.constructor as new(n: number) => Int32Array)(length * stride)
  for (let i = 0; i < length; i++) {
    const from = (data.offset + indices[i]!) * stride
    for (let k = 0; k < stride; k++) values[i * stride + k] = source[from + k]!
  }
  return Arrow.makeData({ ...base, type: type as Arrow.Int32, data: values })
}

/** The leaf-free byte size of a column's buffers, used to estimate file sizes. */
export const dataBytes = (data: Arrow.Data): number => {
  let bytes = (data.values?.byteLength ?? 0) + (data.valueOffsets?.byteLength ?? 0) + (data.nullBitmap?.byteLength ?? 0)
  for (const child of data.children) bytes += dataBytes(child)
  return bytes
}

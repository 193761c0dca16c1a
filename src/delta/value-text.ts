/**
 * The text forms of dates, timestamps, decimals and floats that Delta logs hold (file stats and partition
 * values): proleptic Gregorian dates by plain arithmetic, so any int64 value has a text and none is malformed,
 * and the checks for the years 1-9999 that readers parse.
 */
const pad = (n: number, width: number) => String(n).padStart(width, "0")

/** The proleptic Gregorian year, month and day of days since the epoch (exact for any int64 day count). */
const civilOf = (days: number): { year: number; month: number; day: number } => {
  // Howard Hinnant's days_from_civil inverse: plain arithmetic, so no Date range limit and no NaN
  const z = days + 719_468
  const era = Math.floor(z / 146_097)
  const doe = z - era * 146_097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day }
}

const yearText = (year: number) => (year < 0 ? `-${pad(-year, 4)}` : pad(year, 4))

/** `YYYY-MM-DD` of days since the epoch. */
export const formatDate = (days: number): string => {
  const { day, month, year } = civilOf(days)
  return `${yearText(year)}-${pad(month, 2)}-${pad(day, 2)}`
}

/** Whether days since the epoch fall in years 1-9999, the range Spark's date and timestamp texts cover. */
export const dateInRange = (days: number): boolean => days >= minDay && days <= maxDay

// 0001-01-01 and 9999-12-31 as days since the epoch
const minDay = -719_162
const maxDay = 2_932_896

const microsPerDay = 86_400_000_000n

/** Days since the epoch and microseconds into that day of a timestamp (floored, so times of day are positive). */
const splitMicros = (micros: bigint): { days: number; micros: number } => {
  let days = micros / microsPerDay
  let rest = micros % microsPerDay
  if (rest < 0n) {
    rest += microsPerDay
    days -= 1n
  }
  return { days: Number(days), micros: Number(rest) }
}

/** Whether a timestamp (microseconds since the epoch) falls in years 1-9999. */
export const timestampInRange = (micros: bigint): boolean => dateInRange(splitMicros(micros).days)

const timeOf = (micros: number, digits: 3 | 6): string => {
  const seconds = Math.floor(micros / 1_000_000)
  const fraction = micros % 1_000_000
  return `${pad(Math.floor(seconds / 3600), 2)}:${pad(Math.floor(seconds / 60) % 60, 2)}:${pad(seconds % 60, 2)}.` +
    (digits === 6 ? pad(fraction, 6) : pad(Math.floor(fraction / 1000), 3))
}

/** `YYYY-MM-DD<separator>HH:MM:SS.ffffff` of microseconds since the epoch. */
export const formatTimestampMicros = (micros: bigint, separator: " " | "T"): string => {
  const split = splitMicros(micros)
  return `${formatDate(split.days)}${separator}${timeOf(split.micros, 6)}`
}

/** ISO-8601 at millisecond precision (truncated down) of microseconds since the epoch; `Z` when `utc`. */
export const formatTimestampMillis = (micros: bigint, utc: boolean): string => {
  const split = splitMicros(micros)
  const text = `${formatDate(split.days)}T${timeOf(split.micros, 3)}`
  return utc ? `${text}Z` : text
}

/** The exact decimal text of an unscaled value at `scale`. */
export const formatDecimal = (unscaled: bigint, scale: number): string => {
  const negative = unscaled < 0n
  const digits = (negative ? -unscaled : unscaled).toString()
  if (scale <= 0) return (negative ? "-" : "") + digits + "0".repeat(-scale)
  const padded = digits.padStart(scale + 1, "0")
  return `${negative ? "-" : ""}${padded.slice(0, -scale)}.${padded.slice(-scale)}`
}

/** The shortest text that reads back as the same float32. */
export const formatFloat32 = (value: number): string => {
  for (let digits = 1; digits <= 9; digits++) {
    const text = Number(value.toPrecision(digits))
    if (Math.fround(text) === value) return String(text)
  }
  return String(value)
}

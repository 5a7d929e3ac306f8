// How numbers, times and money are shown.

const integer = new Intl.NumberFormat('en-US');

export function count(value) {
  return value === null || value === undefined ? '–' : integer.format(value);
}

export function ms(value) {
  return value === null || value === undefined ? '–' : `${integer.format(value)} ms`;
}

export function usd(value) {
  if (value === null || value === undefined) return '–';
  const amount = Math.abs(Number(value));
  // A single call often costs less than a hundredth of a cent: two significant digits then.
  const digits = amount >= 1 ? 2 : amount >= 0.0001 || amount === 0 ? 4 : Math.min(12, 1 - Math.floor(Math.log10(amount)));
  return `$${Number(value).toFixed(digits)}`;
}

export function time(text) {
  if (!text) return '–';
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? String(text) : date.toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

/** Ranges the pages offer, in milliseconds, with the bucket width each asks for. */
export const RANGES = [
  { label: 'Last hour', value: '1h', millis: 3600e3, interval: '1m' },
  { label: 'Last 24 hours', value: '24h', millis: 86400e3, interval: '1h' },
  { label: 'Last 7 days', value: '7d', millis: 7 * 86400e3, interval: '6h' },
  { label: 'Last 30 days', value: '30d', millis: 30 * 86400e3, interval: '1d' },
];

/** The `from`/`to`/`interval` query of a range. */
export function rangeQuery(value) {
  const range = RANGES.find((r) => r.value === value) || RANGES[1];
  const to = new Date();
  const from = new Date(to.getTime() - range.millis);
  return new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), interval: range.interval });
}

/** Server-side SVG chart geometry. */
import { barChart, dailyChart, hourlyChart, niceCeiling } from '../../src/dashboard/charts';

const point = (i: number, ok: number, failed = 0) => ({ start: new Date(Date.UTC(2026, 10, 1 + i)), requestsOk: ok, requestsFailed: failed });

test('nice ceilings', () => {
  expect([0, 1, 3, 7, 10, 11, 45, 99, 1234].map(niceCeiling)).toEqual([1, 1, 5, 10, 10, 20, 50, 100, 2000]);
});

test('bars stack ok below failed and scale to the tallest bucket', () => {
  const chart = barChart([point(0, 0), point(1, 6, 4), point(2, 2)], {
    id: 'c',
    title: 't',
    bucketLabel: (d) => d.toISOString().slice(0, 10),
    axisLabel: (d) => String(d.getUTCDate()),
    labelEvery: 1,
  });
  expect(chart.total).toBe(12);
  expect(chart.failed).toBe(4);
  expect(chart.yTicks.map((t) => t.label)).toEqual(['0', '5', '10']);
  const [empty, full, small] = chart.bars;
  expect(empty.ok.height).toBe(0);
  expect(full.ok.height + full.failed.height).toBeCloseTo(chart.plot.height, 0);
  expect(full.failed.y + full.failed.height).toBeCloseTo(full.ok.y, 1);
  expect(small.ok.height).toBeCloseTo(chart.plot.height / 5, 0);
  expect(full.label).toBe('2026-11-02: 6 ok, 4 failed');
  expect(chart.bars.every((b) => b.x >= chart.plot.left && b.x + b.width <= chart.plot.left + chart.plot.width + 0.1)).toBe(true);
});

test('an empty series is flagged, and the hourly/daily charts label their axes', () => {
  const hours = Array.from({ length: 24 }, (_, i) => ({ start: new Date(Date.UTC(2026, 10, 22, i)), requestsOk: 0, requestsFailed: 0 }));
  const hourly = hourlyChart('h', hours);
  expect(hourly.empty).toBe(true);
  expect(hourly.xLabels.map((l) => l.label)).toEqual(['05:00', '11:00', '17:00', '23:00']);
  const days = Array.from({ length: 30 }, (_, i) => point(i, i));
  const daily = dailyChart('d', days);
  expect(daily.empty).toBe(false);
  expect(daily.xLabels.at(-1)?.label).toBe('Nov 30');
  expect(daily.bars[29].label).toBe('Nov 30: 29 ok, 0 failed');
});

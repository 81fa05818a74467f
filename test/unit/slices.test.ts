import { mapInSlices } from '../../src/lib/slices';
import { loopTurnsDuring } from '../helpers/loop-turns';

describe('mapInSlices', () => {
  it.each([0, 1, 999, 1000, 1001, 3500])('maps %i items in order, like Array.prototype.map', async (count) => {
    const items = Array.from({ length: count }, (_, i) => i);
    expect(await mapInSlices(items, (i) => `#${i}`)).toEqual(items.map((i) => `#${i}`));
  });

  it('lets the event loop turn between slices', async () => {
    const turns = await loopTurnsDuring(() => mapInSlices(Array.from({ length: 5000 }, (_, i) => i), (i) => i * 2, 1000));
    // Five slices, four turns between them.
    expect(turns).toBeGreaterThanOrEqual(4);
  });
});

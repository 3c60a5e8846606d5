/**
 * Compile-time checks of apply()'s types, run by the type-check of `./run.sh test`
 * (tsconfig.test.json). Each `@ts-expect-error` fails that check if the error it expects is
 * gone; nothing here runs.
 */
import { apply, defineUserFunction, type Block } from '../../../src/index.js';

export async function typesOfApply(): Promise<void> {
  const r = await apply(
    (info, inputs, outputs, other) => {
      const a: Block = inputs.img; // a name given one file: a Block
      const dates: Block[] = inputs.dates; // a name given a list: Block[]
      outputs.mean = a.like('Float32');
      other.seen += dates.length;
      // @ts-expect-error a misspelt input name
      void inputs.imgae;
      // @ts-expect-error a list input used as one block
      void inputs.dates.band(1);
      // @ts-expect-error an output that is not in outfiles
      outputs.maen = a;
      // @ts-expect-error otherArgs has the type given in the options
      other.seen = 'many';
      void info.isFirstBlock();
    },
    { img: 'a.tif', dates: ['d1.tif', 'd2.tif'] },
    { mean: 'mean.tif' },
    { otherArgs: { seen: 0 }, controls: { images: { img: { resampleMethod: 'bilinear' }, mean: { statsIgnore: null } } } },
  );
  const seen: number = r.otherArgsList[0]!.seen; // otherArgsList has the type of otherArgs
  void seen;

  // @ts-expect-error per-image controls are keyed by the run's image names
  await apply(() => undefined, { img: 'a.tif' }, { out: 'o.tif' }, { controls: { images: { imgg: { statsIgnore: 1 } } } });

  // a function made with defineUserFunction, typed by its own parameters
  const fn = defineUserFunction(import.meta.url, (_info, inputs: { a: Block; b: Block }, outputs: { o: Block }) => {
    outputs.o = inputs.a.like();
    void inputs.b;
  });
  await apply(fn, { a: 'a.tif', b: 'b.tif' }, { o: 'o.tif' });
  // @ts-expect-error the function needs input b, which the files do not name
  await apply(fn, { a: 'a.tif' }, { o: 'o.tif' });
}

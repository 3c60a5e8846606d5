/** The parser of GDAL's DMD_CREATIONOPTIONLIST and the checks made with it (no GDAL needed). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkCreationOptionsAgainst, parseCreationOptionList } from '../../../src/gdal/creationlist.js';
import { ControlsError } from '../../../src/errors.js';

const XML = `<CreationOptionList>
   <Option name='COMPRESS' type='string-select' default='LZW'>
       <Value>NONE</Value>
       <Value alias='2'>STANDARD</Value>
   </Option>
   <Option name="LEVEL" type="int" min="1" max="9" description='level'/>
   <Option name='COMPRESSED' alias='COMP' type='boolean'/>
   <Option name='Q' type='float'/>
   <Option name='N' type='unsigned int'/>
   <Option name='TEXT' type='string' description='anything &lt;at all&gt;'/>
</CreationOptionList>`;

test('options, their aliases, select values with aliases, types and ranges', () => {
  const specs = parseCreationOptionList(XML);
  assert.deepEqual(
    specs.map((s) => [s.names, s.type, s.values, s.min, s.max]),
    [
      [['COMPRESS'], 'string-select', ['NONE', 'STANDARD', '2'], undefined, undefined],
      [['LEVEL'], 'int', [], 1, 9],
      [['COMPRESSED', 'COMP'], 'boolean', [], undefined, undefined],
      [['Q'], 'float', [], undefined, undefined],
      [['N'], 'unsigned int', [], undefined, undefined],
      [['TEXT'], 'string', [], undefined, undefined],
    ],
  );
  assert.deepEqual(parseCreationOptionList(''), []);
});

test('accepted and refused options, with the message naming what is wrong', () => {
  const specs = parseCreationOptionList(XML);
  const check = (opts: string[]): void => checkCreationOptionsAgainst(specs, 'TEST', opts, 'output o');
  check(['compress=standard', 'COMPRESS=2', 'LEVEL=9', 'comp=on', 'Q=-1.5e3', 'N=0', 'TEXT=a=b']);
  const bad: [string, RegExp][] = [
    [
      'COMPRES=NONE',
      /^output o: driver TEST has no creation option COMPRES \(did you mean COMPRESS\?\); its options are COMPRESS, LEVEL, COMPRESSED, Q, N, TEXT$/,
    ],
    ['XYZZY=1', /has no creation option XYZZY; its options are/],
    ['COMPRESS=ZIP', /^output o: COMPRESS=ZIP is not valid for driver TEST: COMPRESS must be one of NONE, STANDARD, 2$/],
    ['LEVEL=10', /LEVEL must be a whole number from 1 to 9$/],
    ['LEVEL=1.5', /LEVEL must be a whole number from 1 to 9$/],
    ['COMP=maybe', /COMPRESSED must be a boolean \(YES, NO, TRUE, FALSE, ON, OFF, 1, 0\)$/],
    ['Q=fast', /Q must be a number$/],
    ['N=-1', /N must be a whole number ≥ 0$/],
    ['=1', /'=1' is not NAME=VALUE/],
    ['LEVEL', /'LEVEL' is not NAME=VALUE/],
  ];
  for (const [opt, message] of bad)
    assert.throws(
      () => check([opt]),
      (e: unknown) => e instanceof ControlsError && message.test(e.message),
      opt,
    );
});

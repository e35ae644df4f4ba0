import { describe, expect, it } from 'vitest';
import { ApiError, errorFromBody, messageOf, unplacedFieldMessages } from './errors';

describe('errorFromBody', () => {
  it('keeps a plain detail message for the whole form', () => {
    const error = errorFromBody(409, { detail: "A building with code 'HQ' already exists" });
    expect(error.status).toBe(409);
    expect(error.detail).toBe("A building with code 'HQ' already exists");
    expect(error.fields).toEqual({});
  });

  it('maps each 422 problem to the field its loc ends with', () => {
    const error = errorFromBody(422, {
      detail: [
        { type: 'missing', loc: ['body', 'name'], msg: 'field required' },
        { type: 'value_error', loc: ['body', 'mac_address'], msg: 'not a MAC address' },
        { type: 'value_error', loc: ['body', 'name'], msg: 'second problem, first one wins' },
      ],
    });
    expect(error.fields).toEqual({ name: 'field required', mac_address: 'not a MAC address' });
    expect(error.problems.map((p) => p.msg)).toEqual(['field required', 'not a MAC address', 'second problem, first one wins']);
    expect(error.detail).toBe('');
    expect(error.message).toContain('not a MAC address');
  });

  it('keeps problems without a field as the form message', () => {
    const error = errorFromBody(422, { detail: [{ type: 'json_invalid', loc: ['body'], msg: 'invalid JSON' }] });
    expect(error.detail).toBe('invalid JSON');
  });

  it('falls back to the status text when the body is not the API’s', () => {
    expect(errorFromBody(502, null, 'Bad Gateway').detail).toBe('Bad Gateway');
    expect(errorFromBody(500, 'oops').detail).toBe('HTTP 500');
  });
});

describe('unplacedFieldMessages', () => {
  it('lists the problems of fields the form does not show', () => {
    const error = new ApiError(422, '', { name: 'required', floor_id: 'unknown floor' });
    expect(unplacedFieldMessages(error, ['name'])).toEqual(['floor_id: unknown floor']);
  });
});

describe('messageOf', () => {
  it('gives an error’s message and the text of anything else thrown', () => {
    expect(messageOf(new ApiError(409, 'already exists'))).toBe('already exists');
    expect(messageOf(new TypeError('Failed to fetch'))).toBe('Failed to fetch');
    expect(messageOf('plain')).toBe('plain');
  });
});

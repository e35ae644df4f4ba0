/** A labelled select of a list's filter; `any` is the first, empty choice (no filter). */
export function SelectFilter({ id, label, value, options, onChange, any }: { id: string; label: string; value: string; options: [string, string][]; onChange: (value: string) => void; any?: string }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        {any !== undefined && <option value="">{any}</option>}
        {options.map(([v, l]) => (
          <option key={v} value={v}>
            {l}
          </option>
        ))}
      </select>
    </div>
  );
}

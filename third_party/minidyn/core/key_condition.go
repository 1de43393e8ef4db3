package core

import (
	"fmt"
	"strings"

	"github.com/truora/minidyn/interpreter/language"
	"github.com/truora/minidyn/types"
)

// requiredHashKeyValue returns the value, as it appears in keys (see GetKey),
// that a key condition requires of the hash key hashKey: ok is true only when
// the condition is an equality of the hash key with a value placeholder, or
// a conjunction (AND) with such an equality among its terms, so that every
// item the condition can match is in that value's partition. A Query then
// examines that partition alone, instead of every item.
//
// Only string and binary hash keys are narrowed: two spellings of one number
// ("1" and "1.0") are equal to the interpreter but not as keys. A condition
// that does not parse is left to the interpreter, which reports it.
func requiredHashKeyValue(expr, hashKey, hashType string, aliases map[string]string, values map[string]*types.Item) (string, bool) {
	if hashType != "S" && hashType != "B" {
		return "", false
	}

	p := language.NewParser(language.NewLexer(expr))

	cond := p.ParseConditionalExpression()
	if len(p.Errors()) != 0 || cond.Expression == nil {
		return "", false
	}

	return hashEquality(cond.Expression, hashKey, hashType, aliases, values)
}

func hashEquality(e language.Expression, hashKey, hashType string, aliases map[string]string, values map[string]*types.Item) (string, bool) {
	infix, ok := e.(*language.InfixExpression)
	if !ok {
		return "", false
	}

	switch infix.Operator {
	case language.AND:
		if v, ok := hashEquality(infix.Left, hashKey, hashType, aliases, values); ok {
			return v, true
		}

		return hashEquality(infix.Right, hashKey, hashType, aliases, values)
	case language.EQ:
		if v, ok := placeholderValue(infix.Right, values, hashType); ok && namesAttribute(infix.Left, hashKey, aliases) {
			return v, true
		}

		if v, ok := placeholderValue(infix.Left, values, hashType); ok && namesAttribute(infix.Right, hashKey, aliases) {
			return v, true
		}
	}

	return "", false
}

// namesAttribute reports whether e is the top-level attribute name, directly
// or through an expression attribute name (#name).
func namesAttribute(e language.Expression, name string, aliases map[string]string) bool {
	id, ok := e.(*language.Identifier)
	if !ok {
		return false
	}

	n := id.Value
	if strings.HasPrefix(n, "#") {
		alias, ok := aliases[n]
		if !ok {
			return false
		}

		n = alias
	}

	return n == name
}

// placeholderValue returns the key form of the value placeholder (:value) e
// stands for, when it has the type typ.
func placeholderValue(e language.Expression, values map[string]*types.Item, typ string) (string, bool) {
	id, ok := e.(*language.Identifier)
	if !ok || !strings.HasPrefix(id.Value, ":") {
		return "", false
	}

	v, ok := values[id.Value]
	if !ok || v == nil {
		return "", false
	}

	goVal, ok := getGoValue(v, typ)
	if !ok {
		return "", false
	}

	return fmt.Sprintf("%v", goVal), true
}
